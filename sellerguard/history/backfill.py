"""Compute the history of past days from stored records: the rules engine evaluated as of each day's end.

A day's row is what ``status --as-of <day>T23:59:59Z`` gives (the same engine, the same records), so a new install
shows a trend at once. Days already recorded for an account are skipped unless ``overwrite``: the daemon's own
rows (evaluated on the day, with the data of the day) are never replaced by a later recomputation by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sellerguard.clock import FixedClock
from sellerguard.config import Config
from sellerguard.history.record import record, recorded_days
from sellerguard.rules.engine import accounts_to_check
from sellerguard.store import Store

END_OF_DAY = time(23, 59, 59)


def day_moment(day: date) -> datetime:
    """The moment a backfilled day is evaluated at: its last second, UTC."""
    return datetime.combine(day, END_OF_DAY, tzinfo=UTC)


@dataclass
class BackfillResult:
    days: int  # days evaluated
    rows: int  # rows written
    skipped: int  # (day, account) pairs already recorded


def backfill(config: Config, store: Store, *, days: int, now: datetime, overwrite: bool = False,
             accounts: tuple[str, ...] = (), progress: Callable[[date], None] | None = None) -> BackfillResult:
    """Evaluate each of the ``days`` days before ``now``'s day (oldest first) and record it.

    ``progress(day)`` is called after each day. Raises what ``build_status`` raises (a config error).
    """
    from sellerguard.status import build_status

    today = now.astimezone(UTC).date()
    wanted = [today - timedelta(days=n) for n in range(days, 0, -1)]
    ids = [ref.id for ref in accounts_to_check(config, store, accounts=accounts)]
    done = {} if overwrite or not wanted else recorded_days(store, wanted[0], wanted[-1])
    result = BackfillResult(0, 0, 0)
    for day in wanted:
        todo = tuple(a for a in ids if a not in done.get(day, set()))
        result.skipped += len(ids) - len(todo)
        if todo:
            moment = day_moment(day)
            report = build_status(config, store, FixedClock(moment), as_of=moment, accounts=todo)
            result.rows += record(store, report, day=day)
            result.days += 1
        if progress is not None:
            progress(day)
    return result
