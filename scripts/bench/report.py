"""The bench's printed report: one table of ingest, drain and end-to-end figures from the
results that are also written as JSON."""


def pct(share):
    return f"{round(share * 100)}%"


def drain_lines(runs):
    lines = ["drain                          workers  events  seconds  events/s  worker RSS MB  "
             "exactly-once  CPU s inlet/postgres/rabbitmq  postgres/all CPU"]
    # Run grouped by worker count (each group from empty tables), listed side by side.
    production = runs.get("production_drains", [])
    dbs = list(dict.fromkeys(d["db"] for d in production))
    production = sorted(production, key=lambda d: (dbs.index(d["db"]), d["workload"] != "creates",
                                                   d.get("workers", 1), d.get("again", False)))
    drains = [(f"production {d['db']} {d['workload']}" + (" again" if d.get("again") else ""), d)
              for d in production]
    if runs.get("embedded_drain"):
        drains.append(("embedded creates", runs["embedded_drain"]))
    for name, d in drains:
        c = d["cpu_seconds"]
        cpu = f"{c['inlet']}/{c['postgres']}/{c['rabbitmq']}"
        share = d.get("cpu_share_of_machine")
        shares = f"{pct(share['postgres'])}/{pct(share['total'])}" if share else "-"
        lines.append(f"{name:<30} {d.get('workers', 1):>7} {d['events']:>7} {d['seconds']:>8} "
                     f"{d['events_per_s']:>9} {d['worker_rss_mb']:>14}  "
                     f"{'ok' if d['exactly_once']['ok'] else 'BROKEN':<12}  "
                     f"{cpu:<28}  {shares:>16}")
    # CPU shares are of the whole machine over the drain (cores x seconds).
    for s in runs.get("production_drain_scaling", []):
        base = s["baseline_workers"]
        for n, ratio in s["speedup"].items():
            lines.append(
                f"{n} / {base} workers, {s['db']} {s['workload']}: {ratio} "
                f"(postgres {pct(s['postgres_cpu_share'][str(base)])} -> "
                f"{pct(s['postgres_cpu_share'][n])} of the CPU, all "
                f"{pct(s['total_cpu_share'][str(base)])} -> {pct(s['total_cpu_share'][n])})")
    # TLS against plain at the same worker count (plain drains run only the fewest), each
    # the mean of its drains: a setting drained first and again last is compared as one.
    by = {}
    for d in runs.get("production_drains", []):
        by.setdefault((d["db"], d["workload"], d.get("workers", 1)), []).append(d["events_per_s"])
    mean = {k: sum(v) / len(v) for k, v in by.items()}
    for (db, workload, n), tls in sorted(mean.items()):
        plain = mean.get(("plain", workload, n))
        if db == "tls" and plain:
            runs_of = by[(db, workload, n)]
            each = f" (mean of {' and '.join(str(r) for r in runs_of)})" if len(runs_of) > 1 else ""
            lines.append(f"TLS / plain, {workload}, {n} worker{'s' if n > 1 else ''}: "
                         f"{tls / plain:.2f}{each}")
    return lines


def table(results):
    lines = []
    m = results["machine"]
    lines.append(f"machine: {m['cores']} cores, {m['cpu']}, {m['memory']}")
    lines.append("")
    lines.append("ingest            conn   req/s   p50 ms   p99 ms  non-2xx  RSS MB | ref req/s  ref p99 | ratio req/s  ratio p99")
    for mode in ("production_ingest", "embedded_ingest"):
        for row in results["runs"].get(mode, []):
            i = row["inlet"]
            ref = row.get("reference")
            refs = (f"{ref['rps']:>9}  {ref['p99_ms']:>7} | {row['ratio_rps']:>11}  {row['ratio_p99']:>9}"
                    if ref else f"{'-':>9}  {'-':>7} | {'-':>11}  {'-':>9}")
            lines.append(f"{mode.split('_')[0]:<16} {row['connections']:>5} {i['rps']:>7} {i['p50_ms']:>8} "
                         f"{i['p99_ms']:>8} {i['non2xx']:>8} {row['inlet_rss_mb']:>7} | {refs}")
    lines.append("")
    lines.extend(drain_lines(results["runs"]))
    e = results["runs"].get("end_to_end")
    if e:
        lines.append("")
        lines.append(f"end to end at {e['achieved_rps']} req/s (target {e['target_rps']}): "
                     f"receipt -> contact committed p50 {e['p50_ms']} ms, p99 {e['p99_ms']} ms "
                     f"({e['deliveries']} deliveries)")
    p = results["runs"].get("prune_under_load")
    if p:
        b, w, a = p["baseline"], p["with_prune"], p["with_prune"].get("alongside", {})
        b2 = p.get("baseline_again", b)
        lines.append("")
        lines.append(f"prune under load: {p['rows']} log rows over {p['days']} days, retention "
                     f"{p['retention_days']}d: {a.get('dropped_partitions')} partitions dropped, "
                     f"{a.get('removed_rows')} rows, `inlet prune` {a.get('took_ms')} ms"
                     + ("" if p["ok"] else f"  NOT OK {a.get('error', '')} left {p['left']}"))
        win = w.get("window", {})
        lines.append(f"  end to end p50 / p99 / max ms: without {b['p50_ms']} / {b['p99_ms']} / {b['max_ms']}, "
                     f"with {w['p50_ms']} / {w['p99_ms']} / {w['max_ms']}, "
                     f"without again {b2['p50_ms']} / {b2['p99_ms']} / {b2['max_ms']} "
                     f"(received while pruning: {win.get('p50_ms')} / {win.get('p99_ms')} / {win.get('max_ms')}, "
                     f"{win.get('deliveries')} deliveries); ingest p99 {b['ingest_p99_ms']} / {w['ingest_p99_ms']} / {b2['ingest_p99_ms']} ms; "
                     f"non-2xx {w['non2xx']}")
    return "\n".join(lines)


def broken(results):
    """The runs whose exactly-once bookkeeping (or the prune's outcome) did not add up."""
    out = []
    prune = results["runs"].get("prune_under_load")
    if prune and not prune["ok"]:
        out.append("prune_under_load")
    for key, value in results["runs"].items():
        for i, run in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(run, dict) and "exactly_once" in run and not run["exactly_once"]["ok"]:
                out.append(key if isinstance(value, dict) else
                           f"{key}[{i}] ({run.get('db')} {run.get('workload')}, "
                           f"{run.get('workers', 1)} workers)")
    return out
