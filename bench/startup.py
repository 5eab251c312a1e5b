"""Start-up timing of the CLI: median wall and CPU time of interleaved runs (not a test; the machine's load varies).

Usage::

    .venv/bin/python bench/startup.py [--runs N] [--config FILE] [--db URL] [--as-of TS] [--phases] [--as-is]

Prints one line per command: median wall seconds, median CPU (user+sys) seconds of the child, and the modules it
imported that the start-up goal forbids. ``status --json`` runs when ``--config`` or ``--db`` names a store with
data (a kept demo database: ``sellerguard demo --keep``). The commands run round-robin, so a change of load hits
them all alike. Also timed, as the floor any ``status`` pays: a bare interpreter and the libraries a status read
cannot do without (click, pydantic, SQLAlchemy Core), then what the ORM store adds (``sqlalchemy.orm``, sqlmodel).

Bytecode: an installed package has ``.pyc`` files, but a shell with ``PYTHONDONTWRITEBYTECODE=1`` (this machine's)
makes every run compile sellerguard's own modules from source again (~0.2-0.5 s of a status run). By default the
children therefore run with that variable unset and ``PYTHONPYCACHEPREFIX`` set to a temporary folder, warmed by one
untimed run per command: what a user's install gives. ``--as-is`` runs them in this shell's environment instead.

``--phases`` (with a store) also splits one ``status`` in process, CPU seconds: importing the CLI and everything
``status`` imports, the first evaluation (cold: lazy imports, packs, calendars, statement compilation), a second
one on the same store (warm), and the JSON rendering.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "requests", "pydantic", "sellerguard.connectors", "holidays")
FLOOR = {  # label -> python -c code
    "python -c pass": "pass",
    "import click, pydantic, sqlalchemy": "import click, pydantic, sqlalchemy",
    "... + sqlalchemy.orm": "import click, pydantic, sqlalchemy.orm",
    "... + sqlmodel": "import click, pydantic, sqlmodel",
}
PHASES = """
import json, time
from pathlib import Path
T = time.process_time
t0 = T()
from sellerguard.cli import Ctx
from sellerguard.clock import SystemClock
from sellerguard.status import build_status, parse_as_of, report_json
t1 = T()
ctx = Ctx(Path({config!r}) if {config!r} else None, {db!r})
config, store = ctx.config, ctx.read_store
as_of = parse_as_of({as_of!r}) if {as_of!r} else None
t2 = T()
first = build_status(config, store, SystemClock(), as_of=as_of)
t3 = T()
second = build_status(config, store, SystemClock(), as_of=first.as_of)
t4 = T()
text = report_json(first)
t5 = T()
print(json.dumps({{"imports": t1 - t0, "config+store": t2 - t1, "first evaluation": t3 - t2,
                  "second evaluation": t4 - t3, "json": t5 - t4}}))
"""


def child_env(prefix: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if prefix is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = prefix
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sellerguard", *args], capture_output=True,
                         text=True, env=env, check=False).stderr
    names = {line.rsplit("|", 1)[-1].strip() for line in out.splitlines() if line.startswith("import time:")}
    return sorted({h for h in HEAVY for n in names if (n == h and "." not in h) or n.startswith(h + ".")})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--config", help="config whose [store] holds data")
    p.add_argument("--db", help="database URL with data (e.g. sqlite:////tmp/x/sellerguard-demo.db)")
    p.add_argument("--as-of", default=None)
    p.add_argument("--phases", action="store_true", help="also split one status run in process (CPU)")
    p.add_argument("--as-is", action="store_true", help="run in this shell's environment (no bytecode cache set up)")
    p.add_argument("--no-floor", action="store_true", help="skip the bare-interpreter and library lines")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sg-pyc-") as prefix:
        env = child_env(None if a.as_is else prefix)
        commands: dict[str, list[str]] = {
            "--version": [sys.executable, "-m", "sellerguard", "--version"],
            "--help": [sys.executable, "-m", "sellerguard", "--help"],
        }
        status_args: list[str] = []
        if a.config or a.db:
            status_args = [*(["--config", a.config] if a.config else []), *(["--db", a.db] if a.db else []),
                           "status", "--json", *(["--as-of", a.as_of] if a.as_of else [])]
            commands["status --json"] = [sys.executable, "-m", "sellerguard", *status_args]
        if not a.no_floor:
            commands.update({label: [sys.executable, "-c", code] for label, code in FLOOR.items()})
        for argv in commands.values():  # warm the bytecode cache (and the page cache) once, untimed
            run_once(argv, env)
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        load_before = os.getloadavg()
        for _ in range(a.runs):
            for label, argv in commands.items():
                samples[label].append(run_once(argv, env))
        load_after = os.getloadavg()
        print(f"{a.runs} interleaved runs, load average {load_before[0]:.1f} -> {load_after[0]:.1f}, "
              f"bytecode {'as this shell has it' if a.as_is else 'cached (a fresh PYTHONPYCACHEPREFIX)'}")
        for label, runs in samples.items():
            wall = statistics.median(s[0] for s in runs)
            cpu = statistics.median(s[1] for s in runs)
            line = f"{label:<38} wall {wall:6.3f} s  cpu {cpu:6.3f} s"
            if label in ("--version", "--help", "status --json"):
                argv = commands[label][3:]
                line += f"  heavy imports: {', '.join(heavy_imports(argv, env)) or 'none'}"
            print(line)
        if a.phases and status_args:
            code = PHASES.format(config=a.config or "", db=a.db, as_of=a.as_of or "")
            runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                              check=True).stdout) for _ in range(3)]
            print("status in process, CPU s, median of 3: " + ", ".join(
                f"{k} {statistics.median(r[k] for r in runs):.3f}" for k in runs[0]))


if __name__ == "__main__":
    main()
