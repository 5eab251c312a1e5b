"""``sellerguard worker`` when PostgreSQL goes away: one clear line and exit 3 (the unit restarts it), not
"internal error ... a bug". The live case was checked by hand through a TCP proxy that was killed (notes)."""

from __future__ import annotations

import pytest

pytest.importorskip("procrastinate")


def test_losing_the_database_is_a_store_error_not_a_bug(monkeypatch) -> None:
    from procrastinate.exceptions import ConnectorException

    from sellerguard.errors import StoreError
    from sellerguard.workers import run

    async def gone(url, rt, opts):
        try:
            raise OSError('connection to server at "127.0.0.1", port 5432 failed:\n Connection refused')
        except OSError as cause:
            raise ConnectorException("\n    Database error.\n    ") from cause

    monkeypatch.setattr(run, "_main", gone)
    with pytest.raises(StoreError, match=r"lost its PostgreSQL connection .*Connection refused") as exc:
        run.serve("postgresql://sg@127.0.0.1/sg", None, run.WorkerOptions())  # type: ignore[arg-type]
    assert "\n" not in str(exc.value)


def test_a_stalled_job_whose_next_run_is_queued_is_recorded_as_succeeded() -> None:
    """A worker killed after its job queued the account's next run (the job's last step) but before procrastinate
    recorded the success: the retrier cannot queue it again (the account's queueing lock) and records it as
    succeeded, not failed; a job without a successor is queued again; the database away propagates."""
    import asyncio
    from types import SimpleNamespace

    from procrastinate import jobs
    from procrastinate.exceptions import UniqueViolation

    from sellerguard.workers.run import retry_stalled

    done, finished = SimpleNamespace(id=1, call_string="a"), []
    pending = SimpleNamespace(id=2, call_string="b")

    class Manager:
        async def get_stalled_jobs(self, **_):
            return [done, pending]

        async def retry_job(self, job):
            if job is done:
                raise UniqueViolation(constraint_name="procrastinate_jobs_queueing_lock_idx_v1",
                                      queueing_lock="account:a")

        async def finish_job(self, job, status, delete_job):
            finished.append((job.id, status))

    assert asyncio.run(retry_stalled(SimpleNamespace(job_manager=Manager()), 30)) == 1  # b queued again
    assert finished == [(1, jobs.Status.SUCCEEDED)]

    class Gone(Manager):
        async def retry_job(self, job):
            raise OSError("connection refused")

    with pytest.raises(OSError):
        asyncio.run(retry_stalled(SimpleNamespace(job_manager=Gone()), 30))
