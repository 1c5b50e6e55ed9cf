"""The prune under load: two million webhook-log rows over forty days, then the paced
end-to-end run twice — without and with `inlet prune` (retention 30d) started a few seconds
in — so the drop of ten day partitions is measured against live traffic: ingest's answers,
the worker's log writes into today's partition, receipt → contact committed."""

import json
import subprocess
import time

from services import inlet_env, log, psql

DAY_MS = 86_400_000
DAYS = 40


def day_name(midnight_ms):
    return time.strftime("%Y%m%d", time.gmtime(midnight_ms // 1000))


def seed(bench, rows):
    """`rows` log rows spread evenly over the forty days before today, in the day
    partitions the pruner would have made ahead of time (`webhook_log_d<yyyymmdd>`)."""
    now = int(time.time() * 1000)
    today = now - now % DAY_MS
    for d in range(1, DAYS + 1):
        start = today - d * DAY_MS
        psql(bench.pgdb, f"CREATE TABLE IF NOT EXISTS webhook_log_d{day_name(start)} PARTITION OF "
                         f"webhook_log FOR VALUES FROM ({start}) TO ({start + DAY_MS})")
    span = DAYS * DAY_MS - 1
    started = time.time()
    psql(bench.pgdb,
         "INSERT INTO webhook_log (id, integration_id, provider, event_type, idempotency_key, "
         "status, message, attempts, received_at, updated_at) "
         "SELECT 'wh_' || md5(g::text), 'int_seed', 'stripe', 'customer.created', "
         "'evt_' || md5(g::text), 'processed', 'Applied.', 1, "
         f"{today} - 1 - (g::bigint * {span} / {rows}), {now} "
         f"FROM generate_series(0, {rows} - 1) AS g")
    # As autovacuum would have left month-old days.
    psql(bench.pgdb, "VACUUM ANALYZE webhook_log")
    log(f"seeded {rows} log rows over {DAYS} days in {time.time() - started:.1f} s")
    return today


def prune_under_load(bench, url, worker_env):
    today = seed(bench, bench.args.prune_rows)
    env = inlet_env(bench.pg_url, INLET_RETAIN_WEBHOOK_LOG="30d")
    cutoff = today - 30 * DAY_MS
    seeded = f"SELECT count(*) FROM webhook_log WHERE integration_id = 'int_seed'"
    expect_left = int(psql(bench.pgdb, f"{seeded} AND received_at >= {cutoff}"))
    # The workers' own pruner keeps the log (it would otherwise prune at its start, before
    # the run that times it); `inlet prune` runs the same prune, timed, mid-run.
    worker_env = {**worker_env, "INLET_RETAIN_WEBHOOK_LOG": "0"}

    def prune():
        started = time.time()
        out = subprocess.run([bench.inlet, "prune", "--output", "json"], env=env,
                             capture_output=True, text=True)
        took = round((time.time() - started) * 1000)
        if out.returncode != 0:
            return {"error": out.stderr.strip(), "took_ms": took}
        lines = json.loads(out.stdout)
        line = next((l for l in lines if l["table"] == "webhook_log"), {})
        return {"took_ms": took, "dropped_partitions": len(line.get("droppedPartitions", [])),
                "removed_rows": line.get("removedRows", 0)}

    at = max(1, bench.args.duration // 3)
    # A B A: the two runs without the prune show the bench's own noise.
    baseline = bench.end_to_end(url, worker_env)
    pruned = bench.end_to_end(url, worker_env, during=(at, prune))
    again = bench.end_to_end(url, worker_env)
    # The seeded rows older than thirty whole days are gone, the rest (and what the runs
    # logged) are there.
    seeded_left = int(psql(bench.pgdb, seeded))
    oldest = int(psql(bench.pgdb, "SELECT coalesce(min(received_at), 0) FROM webhook_log"))
    a = pruned.get("alongside", {})
    ok = ("error" not in a and seeded_left == expect_left and oldest >= cutoff
          and a.get("dropped_partitions") == 10
          and pruned["deliveries"] > 0 and baseline["deliveries"] > 0 and again["deliveries"] > 0
          and pruned["non2xx"] == 0 and pruned["socket_errors"] == 0)
    log(f"prune under load: {a.get('dropped_partitions')} partitions, {a.get('removed_rows')} rows "
        f"in {a.get('took_ms')} ms (CLI start to exit); e2e p99 {baseline['p99_ms']} / "
        f"{pruned['p99_ms']} / {again['p99_ms']} ms, max {baseline['max_ms']} / {pruned['max_ms']} / "
        f"{again['max_ms']} ms (without / with / without), "
        f"while pruning p99 {pruned.get('window', {}).get('p99_ms')} ms; non-2xx "
        f"{pruned['non2xx']}, socket errors {pruned['socket_errors']}" + ("" if ok else f"; NOT OK: {a.get('error')}"))
    return {"rows": bench.args.prune_rows, "days": DAYS, "retention_days": 30,
            "baseline": baseline, "with_prune": pruned, "baseline_again": again,
            "left": {"seeded_rows": seeded_left, "expected": expect_left, "oldest_ms": oldest},
            "ok": ok}
