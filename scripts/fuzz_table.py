"""Issue 18's table, re-measured: N mutated marketplace responses per connector through ``sellerguard sync``.

Not a test (1,000 per connector takes a while): ``nice -n 10 .venv/bin/python scripts/fuzz_table.py [-n 1000]
[--seed 18] [--only amazon,ebay] [--show 3] [--budget SECONDS]``. Prints the 4-row Markdown table (and, apart, the
undetectable drops: a whole record removed from an answer that carries no count) and, per connector, the first
findings of each outcome (the mutation, with its stream, and what happened) so they can be reproduced with
``fuzz.Harness(marketplace).check(Mutation(...))``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "connectors"))

import fuzz  # tests/connectors/fuzz.py: the harness the test suite uses

ROWS = {"traceback": "traceback (exit 1)", "implausible": "implausible value stored, no error",
        "dropped": "records dropped, no error", "bad_state": "bad state kept, later syncs fail"}
NAMES = {"amazon": "Amazon", "ebay": "eBay", "walmart": "Walmart", "etsy": "Etsy", "tiktok": "TikTok",
         "mercadolibre": "Mercado Libre", "bol": "bol", "shopify": "Shopify"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="mutated payloads per connector")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--only", default=",".join(fuzz.MARKETPLACES))
    ap.add_argument("--show", type=int, default=2, help="findings shown per connector and outcome")
    ap.add_argument("--budget", type=float, default=0, help="stop a connector after this many seconds (0: never);"
                    " the table then says how many payloads each column got")
    args = ap.parse_args()
    with fuzz.quiet():
        return run(args)


def run(args: argparse.Namespace) -> int:
    chosen = [m for m in args.only.split(",") if m]
    table: dict[str, Counter[str]] = {}
    examples: dict[str, dict[str, list[str]]] = {}
    runs: dict[str, int] = {}
    for mp in chosen:
        started = time.monotonic()
        harness = fuzz.Harness(mp)
        rng = random.Random(f"{args.seed}:{mp}")
        counts: Counter[str] = Counter()
        shown: dict[str, list[str]] = {}
        done = 0
        for _ in range(args.n):
            if args.budget and time.monotonic() - started > args.budget:
                break
            done += 1
            m = fuzz.random_mutation(rng, harness.baseline.responses)
            for f in harness.check(m):
                counts[f.outcome] += 1
                shown.setdefault(f.outcome, [])
                if len(shown[f.outcome]) < args.show:
                    shown[f.outcome].append(f"{m.describe()}: {f.detail.strip().splitlines()[-1][:300]}")
        harness.close()
        table[mp], examples[mp], runs[mp] = counts, shown, done
        print(f"{mp}: {done} payloads in {time.monotonic() - started:.0f} s: {dict(counts)}", file=sys.stderr,
              flush=True)
    if set(runs.values()) == {args.n}:
        print(f"| per {args.n:,} payloads | " + " | ".join(NAMES.get(m, m) for m in chosen) + " |")
    else:
        print("| payloads run | " + " | ".join(f"{NAMES.get(m, m)} ({runs[m]:,})" for m in chosen) + " |")
    print("|---|" + "---|" * len(chosen))
    for key, label in ROWS.items():
        print(f"| {label} | " + " | ".join(str(table[m][key]) for m in chosen) + " |")
    print(f"| ({fuzz.UNDETECTABLE}: a whole record removed from an answer without a count) | "
          + " | ".join(str(table[m][fuzz.UNDETECTABLE]) for m in chosen) + " |")
    print(f"| ({fuzz.KEPT_UNKNOWN}: a record derived from a garbled status word, its order stored as unknown) | "
          + " | ".join(str(table[m][fuzz.KEPT_UNKNOWN]) for m in chosen) + " |")
    for mp in chosen:
        for outcome, lines in examples[mp].items():
            for line in lines:
                print(f"- {mp} {outcome}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
