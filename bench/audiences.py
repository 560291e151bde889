"""Run `siyu bench audiences` on a fresh SQLite file and, when SIYU_BENCH_POSTGRES_URL is set, on
PostgreSQL (use an empty schema: the load drops and rebuilds the assignment table's indexes);
print one JSON document with every result.

    .venv/bin/python bench/audiences.py [--customers 1000000] [--tags-per-customer 80] [--skip-sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from siyu.benchmarks.audiences import run


def main() -> None:
    """Parse flags, run on each engine, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--tags-per-customer", type=int, default=80)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--reuse", action="store_true", help="time the brand an earlier run left (PostgreSQL)"
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        urls = [] if args.skip_sqlite else [f"sqlite:///{folder}/bench.db"]
        if os.environ.get("SIYU_BENCH_POSTGRES_URL"):
            urls.append(os.environ["SIYU_BENCH_POSTGRES_URL"])
        for url in urls:
            results.append(
                run(
                    url,
                    customers=args.customers,
                    tags_per_customer=args.tags_per_customer,
                    reuse=args.reuse,
                    progress=lambda message: print(message, file=sys.stderr, flush=True),
                )
            )
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
