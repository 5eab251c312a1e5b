import pytest

from sellerguard.config import load_config, parse_config, parse_duration
from sellerguard.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "sg.toml"
    p.write_text(text)
    return p


def test_valid_config_and_secret_references(tmp_path, monkeypatch):
    p = write(tmp_path, """
[[accounts]]
id = "amazon-us"
marketplace = "amazon"
region = "na"
sync_every = "15m"
credentials = { refresh_token = "env:SP_RT" }
[accounts.policy."amazon.odr"]
warn = 0.006
""")
    cfg = load_config(p)
    acc = cfg.account("amazon-us")
    assert acc.sync_every.total_seconds() == 900
    assert acc.policy["amazon.odr"].warn == 0.006
    monkeypatch.setenv("SP_RT", "Atzr|very-secret")
    secret = acc.secret("refresh_token")
    assert secret.get_secret_value() == "Atzr|very-secret"
    assert "very-secret" not in repr(acc) and "very-secret" not in repr(secret)


def test_unset_env_secret_names_the_key_not_the_value(tmp_path, monkeypatch):
    monkeypatch.delenv("SP_RT", raising=False)
    cfg = parse_config({"accounts": [{"id": "a", "marketplace": "amazon",
                                      "credentials": {"refresh_token": "env:SP_RT"}}]})
    with pytest.raises(ConfigError, match=r"accounts\[a\]\.credentials\.refresh_token: environment variable SP_RT"):
        cfg.account("a").secret("refresh_token")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[accounts]]\nid = "a"\nmarketplace = "amazon"\ncolour = "red"\n',
         r"sg\.toml: accounts\[a\]\.colour: Extra inputs are not permitted"),
        ('[[accounts]]\nid = "a"\nmarketplace = "amazon"\nsync_every = "soon"\n',
         r"accounts\[a\]\.sync_every: expected a duration"),
        ('[[accounts]]\nid = "a"\n', r"accounts\[a\]\.marketplace: Field required"),
        ('[[accounts]]\nid = "a"\nmarketplace = "x"\nsync_every = "0s"\n',
         r"accounts\[a\]\.sync_every: must be at least 1m"),
        ('[daemon]\nhorizon_days = 0\n', r"daemon\.horizon_days: Input should be greater than or equal to 1"),
        ('[[accounts]]\nid = "a"\nmarketplace = "x"\n[[accounts]]\nid = "a"\nmarketplace = "y"\n',
         r"accounts: account id 'a' is used twice"),
        ('[[accounts]\n', r"sg\.toml: not valid TOML"),
    ],
)
def test_config_errors_name_file_key_and_expectation(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, text))


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_missing_default_config_is_empty():
    assert load_config().accounts == []


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400), ("2d", 172800), (30, 30)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_huge_duration_is_a_config_error_naming_the_key():
    account = {"id": "x", "marketplace": "amazon", "sync_every": "9999999999999d"}
    with pytest.raises(ConfigError) as err:
        parse_config({"accounts": [account]})
    assert str(err.value) == "config: accounts[x].sync_every: duration too long: '9999999999999d'"


def test_impossible_clock_times_are_refused_at_load():
    target = {"name": "a", "type": "slack", "url": "env:X", "quiet_hours": "25:00-99:00"}
    with pytest.raises(ConfigError, match=r"notify\[a\]\.quiet_hours: expected HH:MM-HH:MM with times 00:00 to "
                                          r"23:59, got '25:00-99:00'"):
        parse_config({"notify": [target]})
    with pytest.raises(ConfigError, match=r"daemon\.digest_at: expected HH:MM with times 00:00 to 23:59, got '24:00'"):
        parse_config({"daemon": {"digest_at": "24:00"}})
    assert parse_config({"daemon": {"digest_at": "23:59"}}).daemon.digest_at == "23:59"
