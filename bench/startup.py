"""Start-up timing of the CLI: median wall and CPU time of repeated runs (not a test; the machine's load varies).

Usage: ``.venv/bin/python bench/startup.py [--runs N] [--config FILE] [--as-of TS]``. Prints one line per
command: median wall seconds, median CPU (user+sys) seconds of the child, and the modules it imported that
the start-up goal forbids. ``status --json`` runs only when ``--config`` names a config with a store.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "requests", "pydantic", "sellerguard.connectors")


def run_once(args: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sellerguard", *args], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sellerguard", *args], capture_output=True,
                         text=True, check=False).stderr
    names = {line.rsplit("|", 1)[-1].strip() for line in out.splitlines() if line.startswith("import time:")}
    return sorted({h for h in HEAVY for n in names if (n == h and "." not in h) or n.startswith(h + ".")})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--config", help="config whose [store] holds data (e.g. a kept demo database)")
    p.add_argument("--as-of", default=None)
    a = p.parse_args()
    commands = [["--version"], ["--help"]]
    if a.config:
        commands.append(["--config", a.config, "status", "--json", *(["--as-of", a.as_of] if a.as_of else [])])
    for cmd in commands:
        samples = [run_once(cmd) for _ in range(a.runs)]
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        print(f"{' '.join(cmd[-3:] if a.config and 'status' in cmd else cmd):<40} wall {wall:6.3f} s  "
              f"cpu {cpu:6.3f} s  heavy imports: {', '.join(heavy_imports(cmd)) or 'none'}")


if __name__ == "__main__":
    main()
