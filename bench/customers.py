"""Run `siyu bench customers` on SQLite and, when SIYU_BENCH_POSTGRES_URL is set, on PostgreSQL;
print one JSON document with both results.

    .venv/bin/python bench/customers.py [--customers 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from siyu.benchmarks.customers import run


def main() -> None:
    """Parse flags, run on each engine, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        results.append(
            run(f"sqlite:///{folder}/bench.db", customers=args.customers, batch=1000, lookups=args.lookups)
        )
    postgres = os.environ.get("SIYU_BENCH_POSTGRES_URL")
    if postgres:
        results.append(run(postgres, customers=args.customers, batch=1000, lookups=args.lookups))
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
