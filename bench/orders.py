"""Run `siyu bench orders` on SQLite and, when SIYU_BENCH_POSTGRES_URL is set, on PostgreSQL;
print one JSON document with every result.

    .venv/bin/python bench/orders.py [--orders 20000] [--history 10000000] [--stores 1000]
        [--customers 1000000] [--peer-orders 1000] [--samples 60] [--skip-reports]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from siyu.benchmarks.orders import run_ingest, run_reports


def main() -> None:
    """Parse flags, run on each engine, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--history", type=int, default=10_000_000)
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers of the history")
    parser.add_argument("--peer-orders", type=int, default=1000, help="orders sent one per request")
    parser.add_argument("--samples", type=int, default=60, help="store-day reports to time")
    parser.add_argument("--skip-reports", action="store_true")
    args = parser.parse_args()
    results = []
    urls = []
    with tempfile.TemporaryDirectory() as folder:
        urls.append(f"sqlite:///{folder}/bench.db")
        postgres = os.environ.get("SIYU_BENCH_POSTGRES_URL")
        if postgres:
            urls.append(postgres)
        for url in urls:
            results.append(run_ingest(url, orders=args.orders, peer_orders=args.peer_orders))
            if not args.skip_reports:
                results.append(
                    run_reports(
                        url,
                        history=args.history,
                        stores=args.stores,
                        customers=args.customers,
                        samples=args.samples,
                    )
                )
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
