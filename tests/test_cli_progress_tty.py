"""The CLI's progress bars (sync, import, history backfill) on a terminal: rich's Live enters the console as a
context manager, which the lazy stderr console must forward (it crashed as an internal error only on a tty)."""

from __future__ import annotations


def test_a_progress_bar_runs_on_the_lazy_stderr_console():
    from rich.progress import Progress

    from sellerguard.cli import err_console

    with Progress(console=err_console, disable=False, transient=True, auto_refresh=False) as bar:
        task = bar.add_task("evaluating days", total=2)
        bar.advance(task)
        bar.refresh()
        bar.advance(task)
    assert bar.finished
