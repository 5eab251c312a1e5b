"""The TOML config, validated by pydantic: accounts, credentials by reference, targets, schedule, overrides.

Credentials are references, resolved only when a connector needs them:
``"env:SP_REFRESH_TOKEN"`` reads an environment variable, ``"file:~/.secrets/sp"`` a file's first line.
A literal value also works but is discouraged (it would live in the file). Resolved values are pydantic
``SecretStr``: their repr is ``'**********'``, so they cannot leak through logs or tracebacks by accident.

Any error names the file, the key path and what was expected; unknown keys are errors.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from sellerguard.errors import ConfigError
from sellerguard.paths import ENV_CONFIG, default_config_path  # in paths.py so the CLI loads it alone

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"15m"``, ``"24h"``, ``"2d"``, ``"1w"``, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return timedelta(seconds=value)
        if isinstance(value, str) and (m := _DURATION.match(value)):
            return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    except OverflowError:  # beyond timedelta's range; a ValueError so pydantic reports it with its key
        raise ValueError(f"duration too long: {value!r}") from None
    raise ValueError(f"expected a duration such as '15m', '24h' or '2d', got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class SecretRef(BaseModel):
    """Where a secret lives. ``reveal()`` reads it; nothing else ever shows the value."""

    model_config = ConfigDict(frozen=True)
    ref: str

    def __repr__(self) -> str:
        kind = self.ref.split(":", 1)[0] if self.ref.startswith(("env:", "file:")) else "inline"
        name = self.ref.split(":", 1)[1] if kind != "inline" else "***"
        return f"SecretRef({kind}:{name})"

    __str__ = __repr__

    def reveal(self, where: str = "secret") -> SecretStr:
        if self.ref.startswith("env:"):
            name = self.ref[4:]
            value = os.environ.get(name)
            if not value:
                raise ConfigError(f"environment variable {name} is not set", where=where)
            return SecretStr(value)
        if self.ref.startswith("file:"):
            path = Path(self.ref[5:]).expanduser()
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {path}: {exc.strerror}", where=where) from None
            except UnicodeDecodeError:  # never echo the bytes: they may be the secret
                raise ConfigError(f"secret file {path} is not UTF-8 text (a binary file?)", where=where) from None
            if not lines or not lines[0].strip():
                raise ConfigError(f"secret file {path} is empty", where=where)
            if not lines[0].strip().isprintable():
                raise ConfigError(f"secret file {path} has control characters in its first line", where=where)
            return SecretStr(lines[0].strip())
        return SecretStr(self.ref)


def _to_ref(value: Any) -> Any:
    return {"ref": value} if isinstance(value, str) else value


Secret = Annotated[SecretRef, BeforeValidator(_to_ref)]
Level = Literal["ok", "warn", "critical", "unknown"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyOverride(_Strict):
    """A seller's own threshold or warning band for one metric of one account."""

    enabled: bool | None = None
    threshold: float | None = None
    warn: float | None = None
    min_volume: int | None = Field(default=None, ge=0)
    window_days: int | None = Field(default=None, ge=1)
    lag_days: int | None = Field(default=None, ge=0)  # the window ends this many days before now (Amazon ODR)
    params: dict[str, Any] = Field(default_factory=dict)  # calculator parameters, e.g. business_days


class AccountConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    marketplace: str
    region: str | None = None  # region or site: na / eu / fe, EBAY_US, MLB, NL ...
    seller_id: str | None = None
    display_name: str | None = None
    enabled: bool = True
    sandbox: bool = False  # use the marketplace's own sandbox hosts
    base_url: str | None = None  # endpoint override: a regional, sandbox or test host
    token_url: str | None = None
    sync_every: Duration = timedelta(minutes=30)
    stale_after: Duration | None = None  # data older than this makes status "unknown"; default 4x sync_every
    credentials: dict[str, Secret] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)  # validated by the account's connector
    policy: dict[str, PolicyOverride] = Field(default_factory=dict)
    seller_page: str | None = Field(default=None, pattern=r"^https?://")  # link in alerts; default per marketplace

    @field_validator("base_url", "token_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError(f"expected an http:// or https:// URL with a host, got {value[:100]!r}")
        return value

    @field_validator("sync_every")
    @classmethod
    def _not_too_often(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):  # marketplaces rate-limit per minute; faster only burns the quota
            raise ValueError("must be at least 1m")
        return value

    def secret(self, name: str) -> SecretStr:
        """The resolved credential ``name``; a clear ConfigError when it is missing or unset."""
        ref = self.credentials.get(name)
        where = f"accounts[{self.id}].credentials.{name}"
        if ref is None:
            raise ConfigError(f"missing credential '{name}' (set it as \"env:VARIABLE\")", where=where)
        return ref.reveal(where)

    @property
    def stale_limit(self) -> timedelta:
        return self.stale_after or self.sync_every * 4


_HHMM = r"(?:[01]\d|2[0-3]):[0-5]\d"  # a clock time 00:00..23:59; 25:00 would crash the daemon later


def _clock_times(value: str | None, shape: str) -> str | None:
    if value is not None and not re.fullmatch(shape.replace("HH:MM", _HHMM), value):
        raise ValueError(f"expected {shape} with times 00:00 to 23:59, got {value!r}")
    return value


_ADDRESS = re.compile(r"^[^\s@<>,;\"]+@[^\s@<>,;\"]+\.[^\s@<>,;\"]+$")


def _mail_address(value: str) -> str:
    """``alerts@example.com`` or ``sellerguard <alerts@example.com>``: one address, no line break."""
    from email.utils import getaddresses

    if any(c in value for c in "\r\n"):
        raise ValueError("an e-mail address cannot contain a line break")
    found = getaddresses([value])  # parseaddr alone reads "a@x.com, b@y.com" as a@x.com, and mail goes to both
    if len(found) != 1 or not _ADDRESS.match(found[0][1] or ""):
        raise ValueError(f"not one e-mail address: {value[:80]!r} (list each recipient separately in `to`)")
    return value


MailAddress = Annotated[str, AfterValidator(_mail_address)]


class SmtpConfig(_Strict):
    """The SMTP server of an ``email`` target (sellerguard/alerts/email.py)."""

    host: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    port: int | None = Field(default=None, ge=1, le=65535)  # default: 587 starttls, 465 tls, 25 none
    security: Literal["starttls", "tls", "none"] = "starttls"  # tls = implicit TLS (SMTPS)
    username: str | None = None
    password: Secret | None = None  # env:NAME or file:PATH, like every credential
    ca_file: Path | None = None  # trust this CA bundle instead of the system's (a private relay)

    @model_validator(mode="after")
    def _no_password_in_clear(self) -> SmtpConfig:
        if self.security == "none" and (self.username or self.password):
            raise ValueError("security = \"none\" would send the password in clear: use starttls or tls")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class TargetConfig(_Strict):
    """A notification target: a Slack incoming webhook, a generic JSON webhook, or e-mail over SMTP."""

    name: str
    type: Literal["slack", "webhook", "email"]
    url: Secret | None = None  # slack / webhook; webhook URLs are secrets: anyone holding one can post
    smtp: SmtpConfig | None = None  # email
    sender: MailAddress | None = None  # email: the From address
    to: list[MailAddress] | None = Field(default=None, min_length=1)  # email: the recipients
    min_level: Literal["warn", "critical"] = "warn"
    accounts: list[str] | None = None  # None = every account
    quiet_hours: Annotated[str | None, AfterValidator(lambda v: _clock_times(v, "HH:MM-HH:MM"))] = None
    timezone: str = "UTC"  # IANA zone for quiet_hours and the digest time
    digest: bool = True

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> TargetConfig:
        if self.type == "email":
            missing = [k for k in ("smtp", "sender", "to") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"an email target needs {', '.join(missing)}")
            if self.url is not None:
                raise ValueError("an email target has no url (its server is smtp.host)")
        else:
            if self.url is None:
                raise ValueError(f"a {self.type} target needs url")
            extra = [k for k in ("smtp", "sender", "to") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only for type = \"email\"")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')") from None
        return value


class DaemonConfig(_Strict):
    repeat_interval: Duration = timedelta(hours=24)
    digest_at: Annotated[str | None, AfterValidator(lambda v: _clock_times(v, "HH:MM"))] = None
    jitter: Duration = timedelta(seconds=30)
    horizon_days: int = Field(default=14, ge=1, le=90)
    deadline_lead: Duration = timedelta(hours=24)  # alert on an item to act on this long before it is due
    # warn about a metric that is still ok when its breach_probability (rules/forecast.py) reaches this; 1 = never
    breach_probability_warn: float = Field(default=0.5, gt=0, le=1)


class StoreConfig(_Strict):
    url: str | None = None
    # where the store's secret lives (sellerguard.keys): "env:NAME" or "file:PATH", never the key itself;
    # unset = a key file beside a SQLite database, or beside this config for PostgreSQL
    key: str | None = Field(default=None, pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$")


class HistoryConfig(_Strict):
    # metric history rows (sellerguard/history) older than this are deleted once a day by the daemon
    retention: Duration = timedelta(days=730)


class DashboardConfig(_Strict):
    # `sellerguard serve`: loopback unless set; any other address needs a token (docs/dashboard.md)
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    token: Secret | None = None  # "env:NAME" or "file:PATH"


class Config(_Strict):
    store: StoreConfig = StoreConfig()
    daemon: DaemonConfig = DaemonConfig()
    history: HistoryConfig = HistoryConfig()
    dashboard: DashboardConfig = DashboardConfig()
    accounts: list[AccountConfig] = Field(default_factory=list)
    notify: list[TargetConfig] = Field(default_factory=list)
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("accounts")
    @classmethod
    def _unique_ids(cls, accounts: list[AccountConfig]) -> list[AccountConfig]:
        seen: set[str] = set()
        for acc in accounts:
            if acc.id in seen:
                raise ValueError(f"account id '{acc.id}' is used twice")
            seen.add(acc.id)
        return accounts

    @model_validator(mode="after")
    def _targets_name_accounts(self) -> Config:
        ids = {a.id for a in self.accounts}
        for t in self.notify:
            for acc in t.accounts or []:
                if acc not in ids:
                    raise ValueError(f"notify target '{t.name}' names unknown account '{acc}'")
        return self

    def account(self, account_id: str) -> AccountConfig:
        for acc in self.accounts:
            if acc.id == account_id:
                return acc
        raise ConfigError(f"no account '{account_id}' in the config", where=str(self.source or "config"))


def _loc(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Render a pydantic error location as a key path, naming accounts by id where we can."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = str(item)
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                label = str(node[item].get("id") or node[item].get("name") or item)
            parts[-1] = f"{parts[-1]}[{label}]" if parts else f"[{label}]"
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def config_error(exc: ValidationError, where: str, data: dict[str, Any], top_keys: Iterable[str] = ()) -> ConfigError:
    import difflib

    errors = exc.errors(include_url=False)
    # a misspelt key also makes its real one "missing": name the misspelling first, with the closest known key
    # (the missing siblings; at the top, ``top_keys``)
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    # "Value error, expected ..." -> "expected ..."
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden" and first["loc"] and isinstance(first["loc"][-1], str):
        parent = first["loc"][:-1]
        known = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == parent]
        if not parent:
            known += list(top_keys)
        close = difflib.get_close_matches(first["loc"][-1], known, n=1)
        msg += f" (did you mean '{close[0]}'?)" if close else ""
    path = _loc(tuple(p for p in first["loc"] if p not in ("function-before[_to_ref(), SecretRef]",)), data)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ConfigError(f"{path}: {msg}{more}" if path else f"{msg}{more}", where=where)


def parse_config(data: dict[str, Any], where: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, where, data, Config.model_fields) from None


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate the config file; a missing default file gives an empty config."""
    explicit = path is not None or ENV_CONFIG in os.environ
    file = Path(path) if path is not None else default_config_path()
    if not file.exists():
        if explicit:
            raise ConfigError("config file not found (run `sellerguard init` to write one)", where=str(file))
        return Config()
    try:
        text = file.read_text(encoding="utf-8")
        if text.startswith("\ufeff"):  # Notepad's UTF-8 BOM: tomllib reports it as an "invalid statement"
            raise ConfigError("starts with a byte-order mark (BOM); save it as UTF-8 without BOM", where=str(file))
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", where=str(file)) from None
    config = parse_config(data, where=str(file))
    return config.model_copy(update={"source": file})
