"""Worker drains: a preloaded backlog of accepted deliveries, one or more `inlet worker`
processes, events/s until every delivery is applied, the exactly-once bookkeeping checked,
and how the figures scale with the number of workers."""

import os
import sys
import time

from load import preload, write_bodies
from services import SECRET, Proc, cpu_delta, cpu_seconds, inlet_env, log, perf_wrapped
from workloads import Population


def drain(bench, mode, env_worker, bodies, new_contacts, preload_url, clear, processed, counts,
          settle=None, workers=1):
    """Times `workers` worker processes applying `bodies` (which create `new_contacts`
    contacts), and checks every one was applied once: one processed record and one recorded
    event each."""
    time.sleep(1)  # requests wrk left in flight finish before the queue is cleared
    clear()
    count = len(bodies)
    prefix = write_bodies(bench.work, f"{mode}d", bodies, bench.threads, SECRET)
    counted_before = counts()
    t0 = time.time()
    accepted = preload(preload_url, prefix, bench.threads)
    log(f"{mode} drain: preloaded {accepted} deliveries in {time.time() - t0:.1f} s")
    if accepted < count:
        # Refused deliveries (e.g. 503 when the broker was slow to confirm) are not
        # queued; the drain is timed on those that were.
        log(f"{mode} drain: {count - accepted} of {count} deliveries were refused while "
            f"preloading; draining the {accepted} accepted")
        count = accepted
    if settle:
        settle()
    before = processed()[0]
    cpu_before = cpu_seconds()
    # Timed from before the first worker starts, so that the second one's start-up counts.
    start = time.time()
    procs = []
    try:
        for i in range(workers):
            name = f"{mode}-worker" + (f"{i + 1}" if workers > 1 else "")
            argv = perf_wrapped([bench.inlet, "worker"], bench.args.perf, bench.args.out, name)
            procs.append(Proc(name, argv, env_worker, bench.work))
        deadline = start + 600
        # Polled slowly (each poll is a query that counts the table, and CPU the drain
        # would use); the end is the newest claim's time, read from the rows themselves.
        while True:
            done, last_ms = processed()
            if done - before >= count:
                break
            if time.time() > deadline or any(w.p.poll() is not None for w in procs):
                sys.exit(f"bench: {mode} drain stalled at {done - before}/{count}")
            time.sleep(0.25)
        cpu_after = cpu_seconds()
        wall = max(time.time() - start, 0.001)
        rss = [w.peak_rss_mb() or 0 for w in procs]
    finally:
        for w in procs:
            w.stop()
    elapsed = max(last_ms / 1000 - start, 0.001)
    after = counts()
    delta = {k: after[k] - counted_before[k] for k in after}
    expected = {"processed": count, "events": count,
                # Refused deliveries leave it unknown which contacts should exist.
                "contacts": new_contacts if accepted == len(bodies) else delta["contacts"]}
    checks = {**delta, "expected": expected, "ok": delta == expected}
    # Of what the machine could give over the drain (cores × seconds): a PostgreSQL share
    # near the whole machine's, or a total near 1, is where more workers stop helping.
    capacity = wall * (os.cpu_count() or 1)
    # Floored at 0: a process that exits meanwhile (a previous part's PostgreSQL backend)
    # takes its CPU time out of the sum.
    used = {k: max(0.0, cpu_after[k] - cpu_before[k]) for k in cpu_after}
    share = {k: round(used[k] / capacity, 2) for k in ("inlet", "postgres", "rabbitmq")}
    share["total"] = round(sum(used.values()) / capacity, 2)
    result = {
        "workers": workers,
        "events": count,
        "seconds": round(elapsed, 2),
        "events_per_s": round(count / elapsed),
        # The largest worker's, so that one- and two-worker drains compare per process.
        "worker_rss_mb": round(max(rss), 1),
        "worker_rss_mb_each": [round(r, 1) for r in rss],
        "exactly_once": checks,
        # Where the CPU went while draining (2 cores = 2 CPU-seconds per second); the
        # inlet figure includes the ingest process, idle meanwhile, and every worker.
        "cpu_seconds": cpu_delta(cpu_before, cpu_after),
        "cpu_share_of_machine": share,
    }
    log(f"{mode} drain ({workers} worker{'s' if workers > 1 else ''}): {result['events_per_s']} "
        f"events/s, checks {checks}, cpu {result['cpu_seconds']}, share {share}")
    return result


def production_drains(bench, url, processed, counts):
    """Both workloads over each database setting: every worker count of --workers on the
    setting ingest uses (TLS by default), the fewest on the comparison one (plain TCP),
    which keeps the run's length down and still gives TLS / plain; and the fewest over the
    first setting again, last (see below)."""
    args = bench.args
    out = []
    rounds = [(db, n) for db in (["tls", "plain"] if args.plain_drains else [args.db])
              for n in (args.workers if db == args.db else args.workers[:1])]
    if args.plain_drains:
        # The one-worker drains over --db once more, last: the first drains after the
        # ingest runs grow PostgreSQL's WAL (new segments zero-filled at commit), later ones
        # reuse recycled segments, so a fixed order favours what runs later. TLS / plain
        # compares the mean of the first and last rounds (A B A) with the plain one between.
        rounds.append((args.db, args.workers[0]))
    seen = set()
    for db, n in rounds:
        again = (db, n) in seen
        seen.add((db, n))
        worker_env = inlet_env(bench.pg_urls[db], bench.amqp_url, **bench.worker_extra())
        # Each database setting and worker count drains the same deliveries (one seed)
        # from empty tables, so that only the number of workers differs.
        bench.truncate()
        population = Population(args.seed + 1)
        now = int(time.time())
        for workload in ("creates", "mixed"):
            if workload == "creates":
                bodies, created = population.creates(args.drain, now), args.drain
            else:
                bodies, created = population.mixed(args.mixed_drain, now)
            mode = (f"prod-{db}-{workload}" + (f"-{n}w" if n > 1 else "")
                    + ("-again" if again else ""))
            d = drain(bench, mode, worker_env, bodies, created, url,
                      lambda: bench.purge("inlet.webhooks"), processed, counts,
                      settle=bench.checkpoint, workers=n)
            out.append({"db": db, "workload": workload, "again": again, **d})
    return out


def scaling(drains):
    """For each database setting and workload drained with several worker counts: events/s
    per count, the speedup over the fewest workers, and the CPU shares that show whether
    PostgreSQL (or the whole machine) was saturated."""
    groups = {}
    for d in (d for d in drains if not d.get("again")):
        groups.setdefault((d["db"], d["workload"]), []).append(d)
    out = []
    for (db, workload), ds in groups.items():
        if len(ds) < 2:
            continue
        ds.sort(key=lambda d: d["workers"])
        base = ds[0]["events_per_s"]
        out.append({
            "db": db,
            "workload": workload,
            "baseline_workers": ds[0]["workers"],
            "events_per_s": {str(d["workers"]): d["events_per_s"] for d in ds},
            "speedup": {str(d["workers"]): round(d["events_per_s"] / base, 2) if base else None
                        for d in ds[1:]},
            "postgres_cpu_share": {str(d["workers"]): d["cpu_share_of_machine"]["postgres"]
                                   for d in ds},
            "total_cpu_share": {str(d["workers"]): d["cpu_share_of_machine"]["total"] for d in ds},
        })
    return out
