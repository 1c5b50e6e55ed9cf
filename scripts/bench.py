#!/usr/bin/env python3
"""Inlet's benchmark, against the real RabbitMQ and PostgreSQL of this machine.

Measures, in one run:
  - ingest (production: `inlet ingest` on PostgreSQL + RabbitMQ) at 64 and 256 connections:
    req/s, p50, p99, non-2xx, peak RSS — interleaved with the reference harness (verify +
    publish with confirm, nothing else) under the same load, and the ratio Inlet / reference;
  - worker drains: a backlog of accepted deliveries, one and then two `inlet worker`
    processes (--workers), events/s until every one is applied, with the exactly-once
    bookkeeping checked, the ratio two / one and PostgreSQL's share of the CPU; for two
    workloads (all creates, and the mixed one of scripts/bench/workloads.py) over TLS to
    PostgreSQL (`sslmode=require`, as to any managed database; the default everywhere), and
    with one worker over plain TCP;
  - end to end at a steady request rate: from receipt to the contact committed, p50 and p99;
  - the prune under load: 2,000,000 log rows over 40 days pruned to 30 (ten day partitions
    dropped) while the end-to-end load runs, against the same run without the prune;
  - embedded mode (SQLite + the embedded queue): the same ingest and drain figures.

Load comes from wrk (scripts/bench/wrk.lua) posting Stripe deliveries with random ids and
emails (scripts/bench/workloads.py), signed at the start of each run. Ingest and the
end-to-end run reach PostgreSQL over TLS (`--db plain` for the comparison). Prints a table
and writes the figures as JSON. The parts live in scripts/bench/.

    python3 scripts/bench.py              # the full benchmark (a few minutes)
    python3 scripts/bench.py --smoke      # seconds; what CI runs so the bench cannot rot
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ left in scripts/bench/
sys.path.insert(0, os.path.join(ROOT, "scripts", "bench"))
from report import broken, table  # noqa: E402 - the folder is put on the path just above
from runs import Bench  # noqa: E402
from services import log  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a seconds-long run (CI)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per load run [10]")
    ap.add_argument("--repeat", type=int, default=1, help="runs per concurrency; medians are reported [1]")
    ap.add_argument("--connections", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--drain", type=int, default=100_000,
                    help="backlog of the production creates drain [100000]")
    ap.add_argument("--mixed-drain", type=int, default=50_000,
                    help="backlog of the production mixed drain [50000]")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], metavar="N",
                    help="worker processes of each production drain over --db; the drains "
                         "over the other setting run only the fewest [1 2]")
    ap.add_argument("--db", choices=["tls", "plain"], default="tls",
                    help="how ingest and the end-to-end run reach PostgreSQL [tls: sslmode=require]")
    ap.add_argument("--no-plain-drains", dest="plain_drains", action="store_false",
                    help="drain over TLS only (by default the drains also run over plain TCP)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random ids and emails [1]")
    ap.add_argument("--embedded-drain", type=int, default=30_000, help="backlog for the embedded drain [30000]")
    ap.add_argument("--rate", type=int, default=1000, help="req/s of the end-to-end run [1000]")
    ap.add_argument("--ingest-only", action="store_true",
                    help="production: only the ingest runs against the reference (for A/B runs of "
                         "ingest settings)")
    ap.add_argument("--prune-rows", type=int, default=2_000_000,
                    help="webhook-log rows over 40 days for the prune under load (0: skip it) [2000000]")
    ap.add_argument("--ceiling", default=os.path.join(os.path.dirname(ROOT), "shared", "ceiling"),
                    help="the reference harness [../shared/ceiling]")
    ap.add_argument("--parts", nargs="+", default=["production", "embedded"],
                    choices=["production", "embedded"], help="which modes to run")
    ap.add_argument("--perf", action="store_true",
                    help="record production ingest and the drain workers with `perf record -g` "
                         "next to --out (RSS figures are then perf's, not Inlet's)")
    ap.add_argument("--ingest-env", nargs="*", default=[], metavar="NAME=VALUE",
                    help="extra settings of the ingest processes (e.g. INLET_KEEP_REQUESTS=none)")
    ap.add_argument("--binary", metavar="PATH",
                    help="run this inlet binary instead of building target/release/inlet "
                         "(to compare two builds in one session; with --smoke, instead of "
                         "building target/debug/inlet)")
    ap.add_argument("--worker-env", nargs="*", default=[], metavar="NAME=VALUE",
                    help="extra settings of the drain and end-to-end workers (e.g. INLET_PREFETCH=512)")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench", "results.json"))
    args = ap.parse_args()
    if any(n < 1 for n in args.workers):
        ap.error("--workers: counts are 1 or more")
    args.workers = sorted(set(args.workers))
    if args.smoke:
        # Small backlogs: every drain, two-worker ones included, takes a second or two.
        args.duration, args.repeat, args.connections = 2, 1, [16]
        args.drain, args.mixed_drain, args.embedded_drain, args.rate = 2_000, 1_000, 1_000, 200
        args.prune_rows = min(args.prune_rows, 20_000)
    return args


def inlet_binary(args):
    if args.binary:
        # A build kept aside, to compare two versions of Inlet on the same machine.
        return os.path.abspath(args.binary)
    if args.smoke:
        # Only proves the bench still runs: the debug build the tests use is enough.
        log("building the debug binary")
        subprocess.run(["cargo", "build", "--quiet", "--bin", "inlet"], cwd=ROOT, check=True)
        return os.path.join(ROOT, "target", "debug", "inlet")
    log("building the release binary")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "inlet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "inlet")


def main():
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (apt-get install wrk)")
    inlet = inlet_binary(args)
    # Made before the runs: --perf writes its recordings next to it.
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    bench = Bench(args, inlet)
    try:
        if "production" in args.parts:
            bench.run_production()
        if "embedded" in args.parts:
            bench.run_embedded()
    finally:
        bench.teardown()
    with open(args.out, "w") as f:
        json.dump(bench.results, f, indent=2)
    print(table(bench.results))
    print(f"\nfigures: {args.out}")
    failed = broken(bench.results)
    if failed:
        sys.exit(f"bench: exactly-once bookkeeping or the prune broken in {failed}")


if __name__ == "__main__":
    main()
