"""Business hours: weekends, holidays, time zones and DST; and a business-clock response metric end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sellerguard.errors import ConfigError
from sellerguard.rules.calendars import load_calendar, parse_calendar

H = timedelta(hours=1)
FRI = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday 15:00 UTC


def cal(**data):
    return parse_calendar("t", {"timezone": "UTC", "weekend": ["sat", "sun"], **data}, "t.toml")


def test_24_business_hours_skip_the_weekend():
    assert cal().add_hours(FRI, 24) == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 15:00


def test_a_message_sent_on_saturday_starts_on_monday():
    sat = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert cal().add_hours(sat, 24) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def test_holidays_are_skipped():
    c = cal(holidays=["2026-11-23"])
    assert c.add_hours(FRI, 24) == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert c.hours_between(FRI, datetime(2026, 11, 24, 15, 0, tzinfo=UTC)) == 24


def test_time_zone_decides_the_business_day():
    ams = cal(timezone="Europe/Amsterdam")
    late_friday = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # already Saturday 00:30 in Amsterdam
    # Monday 00:00 Amsterdam = Sunday 23:00 UTC; 24 h later = Monday 23:00 UTC
    assert ams.add_hours(late_friday, 24) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert cal().add_hours(late_friday, 24) == datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # UTC: 30 min on Fri


def test_dst_day_counts_its_real_length():
    ams = cal(timezone="Europe/Amsterdam", weekend=[])
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # Sunday 25 Oct starts (local), a 25-hour day
    assert ams.hours_between(start, start + 25 * H) == 25


@pytest.mark.parametrize(
    ("data", "key"),
    [({"timezone": "Mars/Olympus"}, "timezone"), ({"weekend": ["fri", "funday"]}, "weekend"),
     ({"weekend": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}, "weekend"),
     ({"holidays": ["2026-13-01"]}, "holidays[0]")],
)
def test_bad_calendar_names_the_key(data, key):
    with pytest.raises(ConfigError) as exc:
        parse_calendar("t", data, "t.toml")
    assert str(exc.value).startswith(f"t.toml:{key}: ")


def test_shipped_calendar_loads_and_missing_one_fails():
    assert load_calendar("weekdays-utc").weekend == frozenset({5, 6})
    with pytest.raises(ConfigError, match="no calendar 'atlantis'"):
        load_calendar("atlantis")


def test_business_hour_response_metric(world, make_pack, tmp_path):
    (tmp_path / "nl.toml").write_text('timezone = "Europe/Amsterdam"\nweekend = ["sat", "sun"]\n')
    world.calendars_dir = tmp_path
    pack = make_pack(calculator="response_time", comparator="<", threshold=0.5, window_days=30,
                     params={"hours": 24, "clock": "business", "calendar": "nl"})
    fri = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 15:00 Amsterdam; due Monday 14:00 UTC
    world.message(fri, datetime(2026, 11, 23, 13, 59, tzinfo=UTC))  # on time across the weekend
    world.message(fri, datetime(2026, 11, 23, 14, 1, tzinfo=UTC))  # late
    thread = world.message(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))  # Sunday: due Tuesday 00:00 Amsterdam
    now = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    acc = world.status("test", pack=pack, as_of=now)
    m = acc.metrics[0]
    assert (m.numerator, m.denominator) == (1, 3)
    reply = [d for d in acc.deadlines if d.ref == thread]
    assert reply[0].due == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
