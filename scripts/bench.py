#!/usr/bin/env python3
"""Inlet's benchmark, against the real RabbitMQ and PostgreSQL of this machine.

Measures, in one run:
  - ingest (production: `inlet ingest` on PostgreSQL + RabbitMQ) at 64 and 256 connections:
    req/s, p50, p99, non-2xx, peak RSS — interleaved with the reference harness (verify +
    publish with confirm, nothing else) under the same load, and the ratio Inlet / reference;
  - worker drains: a backlog of accepted deliveries, one `inlet worker` process, events/s until
    every one is applied, with the exactly-once bookkeeping checked; for two workloads (all
    creates, and the mixed one of scripts/bench/workloads.py) and over both TLS to PostgreSQL
    (`sslmode=require`, as to any managed database; the default everywhere) and plain TCP;
  - end to end at a steady request rate: from receipt to the contact committed, p50 and p99;
  - embedded mode (SQLite + the embedded queue): the same ingest and drain figures.

Load comes from wrk (scripts/bench/wrk.lua) posting Stripe deliveries with random ids and
emails (scripts/bench/workloads.py), signed at the start of each run. Ingest and the
end-to-end run reach PostgreSQL over TLS (`--db plain` for the comparison). Prints a table
and writes the figures as JSON.

    python3 scripts/bench.py              # the full benchmark (a few minutes)
    python3 scripts/bench.py --smoke      # seconds; what CI runs so the bench cannot rot
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "bench"))
from workloads import Population  # noqa: E402 - the folder is put on the path just above
LUA = os.path.join(ROOT, "scripts", "bench", "wrk.lua")
INLET = os.path.join(ROOT, "target", "release", "inlet")  # the smoke run uses target/debug
CEILING_SECRET = "whsec_test_ceiling_secret_0123456789abcdef"
SECRET = "whsec_bench_" + "s3cr3t" * 4
API_KEY = "inlet_bench_" + "k" * 32
PG = "postgres://postgres@127.0.0.1:5432"
AMQP = "amqp://guest:guest@127.0.0.1:5672"
MGMT = "http://127.0.0.1:15672/api"
INLET_PORT = 18081
CEILING_PORT = 18080


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- services and processes

def mgmt(method, path, body=None):
    req = urllib.request.Request(MGMT + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        data = r.read()
        return json.loads(data) if data else None


def psql(db, sql):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-Atc", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def http(method, url, body=None, key=API_KEY):
    req = urllib.request.Request(url, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", f"Bearer {key}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_ready(url, what, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.p.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    proc.log.flush()
    try:
        with open(proc.log.name, "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace")
    except OSError:
        tail = ""
    sys.exit(f"bench: {what} did not become ready at {url}; its output ends with:\n{tail}")


class Proc:
    """A server process; its peak RSS is read from /proc before it stops."""

    def __init__(self, name, argv, env, logdir):
        self.name = name
        self.log = open(os.path.join(logdir, f"{name}.log"), "ab")
        self.p = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)

    def peak_rss_mb(self):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def inlet_env(database_url, amqp_url=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INLET_")}
    env.update({
        "INLET_DATABASE_URL": database_url,
        "INLET_LISTEN": f"127.0.0.1:{INLET_PORT}",
        "INLET_BOOTSTRAP_API_KEY": API_KEY,
        "INLET_LOG_FORMAT": "json",
        "RUST_LOG": "warn",
    })
    if amqp_url:
        env["INLET_AMQP_URL"] = amqp_url
    env.update(extra)
    return env


# ---------------------------------------------------------------- load

def write_bodies(workdir, run, bodies, threads, secret):
    """Signs the deliveries `bodies` now; one file per wrk thread. Returns the prefix."""
    now = int(time.time())
    prefix = os.path.join(workdir, f"bodies-{run}")
    files = [open(f"{prefix}-{t + 1}.txt", "w") for t in range(threads)]
    key = secret.encode()
    for i, body in enumerate(bodies):
        sig = hmac.new(key, f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
        files[i % threads].write(f"t={now},v1={sig}\t{body}\n")
    for f in files:
        f.close()
    return prefix


def wrk(url, prefix, connections, duration, threads, mode="loop", delay_ms=0):
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
            "-s", LUA, url, "--", prefix, mode, str(delay_ms)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH "))
    r = json.loads(line[len("BENCH "):])
    secs = r["duration_us"] / 1e6
    return {
        "connections": connections,
        "seconds": round(secs, 2),
        "requests": r["requests"],
        "rps": round(r["requests"] / secs) if secs else 0,
        "p50_ms": round(r["p50_us"] / 1000, 2),
        "p99_ms": round(r["p99_us"] / 1000, 2),
        "non2xx": r["non2xx"],
        "socket_errors": r["socket_errors"],
    }


def preload(url, prefix, threads):
    """Posts each prepared delivery once; returns how many were accepted (202) once every
    one has its answer. (wrk's main thread sleeps for the whole duration even when its
    threads are done, so it is interrupted once every thread has marked its lines answered.)"""
    markers = [f"{prefix}-{t + 1}.done" for t in range(threads)]
    argv = ["wrk", f"-t{threads}", "-c64", "-d600s", "--timeout", "10s", "-s", LUA, url, "--",
            prefix, "once", "0"]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    try:
        while not all(os.path.exists(m) for m in markers):
            if p.poll() is not None or time.time() > deadline:
                sys.exit("bench: preloading stopped before every delivery was answered")
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait()
    accepted = 0
    for m in markers:
        with open(m) as f:
            accepted += int(f.read().strip() or 0)
    return accepted


def cpu_seconds():
    """CPU time used so far by Inlet, the reference harness, wrk, PostgreSQL and RabbitMQ, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = {"inlet": 0.0, "reference": 0.0, "wrk": 0.0, "postgres": 0.0, "rabbitmq": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / tick
        if name == "inlet":
            totals["inlet"] += used
        elif name == "server":
            totals["reference"] += used
        elif name.startswith("postgres"):
            totals["postgres"] += used
        elif name.startswith("beam"):
            totals["rabbitmq"] += used
    # wrk has exited by the time this is read: it is counted among this script's reaped
    # children (which, during a load run, are only wrk).
    t = os.times()
    totals["wrk"] = t.children_user + t.children_system
    return totals


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


# ---------------------------------------------------------------- the runs

class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="inlet-bench-")
        self.results = {"machine": machine(), "runs": {}}
        self.tag = f"{os.getpid()}"
        self.vhost = f"inlet-bench-{self.tag}"
        self.pgdb = f"inlet_bench_{self.tag}"
        self.threads = 2
        # Ingest's and the end-to-end run's deliveries: new customers, random ids.
        self.load = Population(args.seed)

    def worker_extra(self):
        return dict(kv.split("=", 1) for kv in self.args.worker_env)

    def ingest_extra(self):
        return dict(kv.split("=", 1) for kv in self.args.ingest_env)

    def setup_production(self):
        mgmt("PUT", f"/vhosts/{self.vhost}")
        mgmt("PUT", f"/permissions/{self.vhost}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
        psql("postgres", f"CREATE DATABASE {self.pgdb}")
        # TLS, as every managed PostgreSQL is reached (the local server offers its own
        # certificate); plain TCP only for the comparison.
        self.pg_urls = {"tls": f"{PG}/{self.pgdb}?sslmode=require",
                        "plain": f"{PG}/{self.pgdb}?sslmode=disable"}
        self.pg_url = self.pg_urls[self.args.db]
        self.amqp_url = f"{AMQP}/{self.vhost}"
        subprocess.run([INLET, "migrate"], env=inlet_env(self.pg_url), check=True,
                       stdout=subprocess.DEVNULL)

    def teardown(self):
        try:
            mgmt("DELETE", f"/vhosts/{self.vhost}")
        except Exception as e:  # noqa: BLE001 - cleanup is best effort
            log(f"could not delete vhost {self.vhost}: {e}")
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc",
                        f"DROP DATABASE IF EXISTS {self.pgdb} WITH (FORCE)"], check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    def purge(self, queue):
        try:
            mgmt("DELETE", f"/queues/{self.vhost}/{queue}/contents")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise

    def queue_ready(self, queue):
        return mgmt("GET", f"/queues/{self.vhost}/{queue}").get("messages_ready", 0)

    def create_integration(self):
        created = http("POST", f"http://127.0.0.1:{INLET_PORT}/api/v1/integrations",
                       {"provider": "stripe", "name": "bench", "signingSecrets": [SECRET]})
        return created["id"]

    # -- ingest, interleaved with the reference

    def ingest_runs(self, mode, ingest, integration, ceiling, clear):
        url = f"http://127.0.0.1:{INLET_PORT}/webhooks/{integration}"
        per_thread = 5_000 if self.args.smoke else 30_000
        count = per_thread * self.threads
        now = int(time.time())
        ours = write_bodies(self.work, f"{mode}i", self.load.creates(count, now), self.threads,
                            SECRET)
        theirs = write_bodies(self.work, f"{mode}c", self.load.creates(count, now), self.threads,
                              CEILING_SECRET) if ceiling else None
        out = []
        for c in self.args.connections:
            row = {"connections": c}
            for rep in range(self.args.repeat):
                if ceiling:
                    self.purge("ceiling_webhooks")
                    cpu_before = cpu_seconds()
                    ref = wrk(f"http://127.0.0.1:{CEILING_PORT}/webhooks/stripe", theirs, c,
                              self.args.duration, self.threads)
                    cpu_after = cpu_seconds()
                    ref["cpu_seconds"] = {k: round(cpu_after[k] - cpu_before[k], 1) for k in cpu_after}
                    row.setdefault("reference", []).append(ref)
                clear()
                cpu_before = cpu_seconds()
                got = wrk(url, ours, c, self.args.duration, self.threads)
                cpu_after = cpu_seconds()
                got["cpu_seconds"] = {k: round(cpu_after[k] - cpu_before[k], 1) for k in cpu_after}
                row.setdefault("inlet", []).append(got)
                log(f"{mode} ingest c={c} run {rep + 1}: inlet {got['rps']} req/s p99 {got['p99_ms']} ms, cpu {got['cpu_seconds']}"
                    + (f"; reference {ref['rps']} req/s p99 {ref['p99_ms']} ms, cpu {ref['cpu_seconds']}" if ceiling else ""))
            row["inlet_rss_mb"] = round(ingest.peak_rss_mb() or 0, 1)
            out.append(summarize(row))
        return out

    def drain(self, mode, env_worker, bodies, new_contacts, preload_url, clear, processed, counts,
              settle=None):
        """Times one worker applying `bodies` (which create `new_contacts` contacts), and
        checks every one was applied once: one processed record and one recorded event each."""
        time.sleep(1)  # requests wrk left in flight finish before the queue is cleared
        clear()
        count = len(bodies)
        prefix = write_bodies(self.work, f"{mode}d", bodies, self.threads, SECRET)
        counted_before = counts()
        t0 = time.time()
        accepted = preload(preload_url, prefix, self.threads)
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
        argv = [INLET, "worker"]
        if self.args.perf:
            argv = ["perf", "record", "-F", "499", "-g", "-o",
                    os.path.join(os.path.dirname(self.args.out), f"{mode}-worker.perf.data"), "--"] + argv
        worker = Proc(f"{mode}-worker", argv, env_worker, self.work)
        start = time.time()
        deadline = start + 600
        # Polled slowly (each poll is a query that counts the table, and CPU the drain
        # would use); the end is the newest claim's time, read from the rows themselves.
        while True:
            done, last_ms = processed()
            if done - before >= count:
                break
            if time.time() > deadline or worker.p.poll() is not None:
                worker.stop()
                sys.exit(f"bench: {mode} drain stalled at {done - before}/{count}")
            time.sleep(0.25)
        cpu_after = cpu_seconds()
        elapsed = max(last_ms / 1000 - start, 0.001)
        rss = worker.peak_rss_mb()
        worker.stop()
        after = counts()
        delta = {k: after[k] - counted_before[k] for k in after}
        expected = {"processed": count, "events": count,
                    # Refused deliveries leave it unknown which contacts should exist.
                    "contacts": new_contacts if accepted == len(bodies) else delta["contacts"]}
        checks = {**delta, "expected": expected, "ok": delta == expected}
        result = {
            "events": count,
            "seconds": round(elapsed, 2),
            "events_per_s": round(count / elapsed),
            "worker_rss_mb": round(rss or 0, 1),
            "exactly_once": checks,
            # Where the CPU went while draining (2 cores = 2 CPU-seconds per second); the
            # inlet figure includes the ingest process, idle meanwhile.
            "cpu_seconds": {k: round(cpu_after[k] - cpu_before[k], 1) for k in cpu_after},
        }
        log(f"{mode} drain: {result['events_per_s']} events/s, checks {checks}, cpu {result['cpu_seconds']}")
        return result

    def run_production(self):
        self.setup_production()
        ceiling = self.start_ceiling()
        argv = [INLET, "ingest"]
        if self.args.perf:
            argv = ["perf", "record", "-F", "499", "-g", "-o",
                    os.path.join(os.path.dirname(self.args.out), "prod-ingest.perf.data"), "--"] + argv
        ingest = Proc("ingest", argv, inlet_env(self.pg_url, self.amqp_url, **self.ingest_extra()),
                      self.work)
        try:
            wait_ready(f"http://127.0.0.1:{INLET_PORT}/health/ready", "inlet ingest", ingest)
            integration = self.create_integration()
            self.results["runs"]["production_ingest"] = self.ingest_runs(
                "prod", ingest, integration, ceiling, lambda: self.purge("inlet.webhooks"))

            def processed():
                count, last = psql(self.pgdb, "SELECT count(*), coalesce(max(processed_at), 0) "
                                   "FROM processed_deliveries").split("|")
                return int(count), int(last)

            def counts():
                rows = psql(self.pgdb, "SELECT (SELECT count(*) FROM processed_deliveries), "
                            "(SELECT count(*) FROM contacts), (SELECT count(*) FROM contact_events)")
                p, c, e = (int(x) for x in rows.split("|"))
                return {"processed": p, "contacts": c, "events": e}

            url = f"http://127.0.0.1:{INLET_PORT}/webhooks/{integration}"
            drains = self.results["runs"]["production_drains"] = []
            for db in (["tls", "plain"] if self.args.plain_drains else [self.args.db]):
                # Each database setting drains the same workloads from empty tables.
                self.truncate()
                population = Population(self.args.seed + 1)
                worker_env = inlet_env(self.pg_urls[db], self.amqp_url, **self.worker_extra())
                now = int(time.time())
                for workload in ("creates", "mixed"):
                    if workload == "creates":
                        bodies, created = population.creates(self.args.drain, now), self.args.drain
                    else:
                        bodies, created = population.mixed(self.args.mixed_drain, now)
                    d = self.drain(f"prod-{db}-{workload}", worker_env, bodies, created, url,
                                   lambda: self.purge("inlet.webhooks"), processed, counts,
                                   settle=self.checkpoint)
                    drains.append({"db": db, "workload": workload, **d})
            worker_env = inlet_env(self.pg_url, self.amqp_url, **self.worker_extra())
            self.results["runs"]["end_to_end"] = self.end_to_end(url, worker_env)
        finally:
            ingest.stop()
            if ceiling:
                ceiling.stop()

    def truncate(self):
        """Empties the tables deliveries fill (the integration, keys and secrets stay)."""
        keep = ("seaql_migrations", "integrations", "integration_secrets", "api_keys",
                "app_secrets")
        tables = psql(self.pgdb, "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                      "WHERE schemaname = 'public' AND tablename NOT IN ("
                      + ", ".join(f"'{t}'" for t in keep) + ")")
        psql(self.pgdb, f"TRUNCATE {tables}")

    def checkpoint(self):
        """Writes PostgreSQL's dirty pages now, so that a part starts from the same state
        instead of inside a checkpoint (and its full-page writes) that the previous part's
        writes set off. In one run, a checkpoint the 100,000-event drain's WAL started was
        still being written through the end-to-end run, whose p99 was 435 ms (12-24 ms in
        runs without one)."""
        psql(self.pgdb, "CHECKPOINT")

    def end_to_end(self, url, worker_env):
        self.checkpoint()
        rate = self.args.rate
        # Each connection pauses, then waits for its answer (1–2 ms at this rate): with 50
        # connections the period is 50 ms at 1,000 req/s, and the pause is 1 ms short of it
        # so that the answer's time fills the rest (16 connections and a full 16 ms pause
        # reached only 860–890 req/s).
        connections = 50
        delay_ms = max(1, round(connections * 1000 / rate) - 1)
        worker = Proc("e2e-worker", [INLET, "worker"], worker_env, self.work)
        try:
            time.sleep(1)
            count = rate * self.args.duration + 1000
            prefix = write_bodies(self.work, "e2e", self.load.creates(count, int(time.time())),
                                  self.threads, SECRET)
            since = int(time.time() * 1000)
            load = wrk(url, prefix, connections, self.args.duration, self.threads, mode="once",
                       delay_ms=delay_ms)
            deadline = time.time() + 60
            sql_pending = (f"SELECT count(*) FROM webhook_log w LEFT JOIN processed_deliveries p "
                           f"ON p.delivery_id = w.id WHERE w.received_at >= {since} "
                           f"AND p.delivery_id IS NULL AND w.status <> 'rejected'")
            while int(psql(self.pgdb, sql_pending)) > 0 and time.time() < deadline:
                time.sleep(0.2)
            rows = psql(self.pgdb, "SELECT p.processed_at - w.received_at, w.received_at FROM webhook_log w "
                        f"JOIN processed_deliveries p ON p.delivery_id = w.id WHERE w.received_at >= {since}")
            pairs = [tuple(int(v) for v in line.split("|")) for line in rows.split()] if rows else []
            lat = [latency for latency, _ in pairs]
            # When the slow ones (over 100 ms) were received, in seconds into the run.
            slow = sorted(round((at - since) / 1000, 1) for latency, at in pairs if latency > 100)
        finally:
            worker.stop()
        result = {
            "target_rps": rate,
            "achieved_rps": load["rps"],
            "deliveries": len(lat),
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "ingest_p99_ms": load["p99_ms"],
            "over_100ms": len(slow),
            "over_100ms_received_s": [slow[0], slow[-1]] if slow else None,
        }
        log(f"end to end at {load['rps']} req/s: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"{len(slow)} over 100 ms" + (f" (received {slow[0]}-{slow[-1]} s into the run)" if slow else ""))
        return result

    def run_embedded(self):
        path = os.path.join(self.work, "embedded.db")
        url = f"sqlite://{path}?mode=rwc"
        subprocess.run([INLET, "migrate"], env=inlet_env(url), check=True, stdout=subprocess.DEVNULL)
        ingest = Proc("embedded-ingest", [INLET, "ingest"], inlet_env(url, **self.ingest_extra()),
                      self.work)

        def sql(q):
            con = sqlite3.connect(path, timeout=30)
            try:
                cur = con.execute(q)
                con.commit()
                return cur.fetchall()
            finally:
                con.close()

        def clear():
            sql("DELETE FROM queue_messages")

        try:
            wait_ready(f"http://127.0.0.1:{INLET_PORT}/health/ready", "embedded inlet ingest", ingest)
            integration = self.create_integration()
            self.results["runs"]["embedded_ingest"] = self.ingest_runs(
                "embedded", ingest, integration, None, clear)

            def processed():
                return sql("SELECT count(*), coalesce(max(processed_at), 0) "
                           "FROM processed_deliveries")[0]

            def counts():
                p, c, e = sql("SELECT (SELECT count(*) FROM processed_deliveries), "
                              "(SELECT count(*) FROM contacts), (SELECT count(*) FROM contact_events)")[0]
                return {"processed": p, "contacts": c, "events": e}

            bodies = Population(self.args.seed + 2).creates(self.args.embedded_drain,
                                                              int(time.time()))
            self.results["runs"]["embedded_drain"] = self.drain(
                "embedded", inlet_env(url, **self.worker_extra()), bodies, len(bodies),
                f"http://127.0.0.1:{INLET_PORT}/webhooks/{integration}", clear, processed, counts)
        finally:
            ingest.stop()

    def start_ceiling(self):
        manifest = os.path.join(self.args.ceiling, "Cargo.toml")
        if not os.path.exists(manifest):
            log(f"reference harness not found at {self.args.ceiling}: ratios are left out")
            return None
        target = os.path.join(ROOT, "target", "ceiling")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", manifest],
                       env={**os.environ, "CARGO_TARGET_DIR": target}, check=True)
        env = {**os.environ, "LISTEN": f"127.0.0.1:{CEILING_PORT}",
               "AMQP_URL": f"{AMQP}/{self.vhost}", "QUEUE": "ceiling_webhooks"}
        proc = Proc("ceiling", [os.path.join(target, "release", "server")], env, self.work)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{CEILING_PORT}/", timeout=1)
            except urllib.error.HTTPError:
                return proc  # it answers (404 on /): up
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
                continue
            return proc
        sys.exit("bench: the reference harness did not start")


def summarize(row):
    """Medians of the repeats, and Inlet / reference ratios."""
    def median(runs, key):
        vals = sorted(r[key] for r in runs)
        return vals[len(vals) // 2]
    out = {"connections": row["connections"], "inlet_rss_mb": row["inlet_rss_mb"]}
    for who in ("inlet", "reference"):
        if who in row:
            out[who] = {k: median(row[who], k) for k in ("rps", "p50_ms", "p99_ms", "non2xx", "socket_errors")}
            out[who]["runs"] = row[who]
    if "reference" in out:
        ref = out["reference"]
        out["ratio_rps"] = round(out["inlet"]["rps"] / ref["rps"], 2) if ref["rps"] else None
        out["ratio_p99"] = round(out["inlet"]["p99_ms"] / ref["p99_ms"], 2) if ref["p99_ms"] else None
    return out


def machine():
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) // (1024 * 1024)} GiB"
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "memory": mem, "kernel": platform.release()}


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
    lines.append("drain                      events  seconds  events/s  worker RSS MB  exactly-once  CPU s inlet/postgres/rabbitmq")
    drains = [(f"production {d['db']} {d['workload']}", d)
              for d in results["runs"].get("production_drains", [])]
    if results["runs"].get("embedded_drain"):
        drains.append(("embedded creates", results["runs"]["embedded_drain"]))
    for name, d in drains:
        lines.append(f"{name:<25} {d['events']:>7} {d['seconds']:>8} {d['events_per_s']:>9} "
                     f"{d['worker_rss_mb']:>14}  {'ok' if d['exactly_once']['ok'] else 'BROKEN':<12}  "
                     f"{d['cpu_seconds']['inlet']}/{d['cpu_seconds']['postgres']}/{d['cpu_seconds']['rabbitmq']}")
    by = {(d["db"], d["workload"]): d["events_per_s"] for d in results["runs"].get("production_drains", [])}
    for workload in ("creates", "mixed"):
        if ("tls", workload) in by and ("plain", workload) in by and by[("plain", workload)]:
            lines.append(f"TLS / plain, {workload}: {by[('tls', workload)] / by[('plain', workload)]:.2f}")
    e = results["runs"].get("end_to_end")
    if e:
        lines.append("")
        lines.append(f"end to end at {e['achieved_rps']} req/s (target {e['target_rps']}): "
                     f"receipt -> contact committed p50 {e['p50_ms']} ms, p99 {e['p99_ms']} ms "
                     f"({e['deliveries']} deliveries)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a seconds-long run (CI)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per load run [10]")
    ap.add_argument("--repeat", type=int, default=1, help="runs per concurrency; medians are reported [1]")
    ap.add_argument("--connections", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--drain", type=int, default=100_000,
                    help="backlog of the production creates drain [100000]")
    ap.add_argument("--mixed-drain", type=int, default=50_000,
                    help="backlog of the production mixed drain [50000]")
    ap.add_argument("--db", choices=["tls", "plain"], default="tls",
                    help="how ingest and the end-to-end run reach PostgreSQL [tls: sslmode=require]")
    ap.add_argument("--no-plain-drains", dest="plain_drains", action="store_false",
                    help="drain over TLS only (by default the drains also run over plain TCP)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random ids and emails [1]")
    ap.add_argument("--embedded-drain", type=int, default=30_000, help="backlog for the embedded drain [30000]")
    ap.add_argument("--rate", type=int, default=1000, help="req/s of the end-to-end run [1000]")
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
                         "(to compare two builds in one session)")
    ap.add_argument("--worker-env", nargs="*", default=[], metavar="NAME=VALUE",
                    help="extra settings of the drain and end-to-end workers (e.g. INLET_PREFETCH=512)")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench", "results.json"))
    args = ap.parse_args()
    if args.smoke:
        args.duration, args.repeat, args.connections = 2, 1, [16]
        args.drain, args.mixed_drain, args.embedded_drain, args.rate = 2_000, 1_000, 1_000, 200
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (apt-get install wrk)")
    global INLET
    if args.smoke:
        # Only proves the bench still runs: the debug build the tests use is enough.
        log("building the debug binary")
        subprocess.run(["cargo", "build", "--quiet", "--bin", "inlet"], cwd=ROOT, check=True)
        INLET = os.path.join(ROOT, "target", "debug", "inlet")
    elif args.binary:
        # A build kept aside, to compare two versions of Inlet on the same machine.
        INLET = os.path.abspath(args.binary)
    else:
        log("building the release binary")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "inlet"], cwd=ROOT, check=True)
    # Made before the runs: --perf writes its recordings next to it.
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    bench = Bench(args)
    try:
        if "production" in args.parts:
            bench.run_production()
        if "embedded" in args.parts:
            bench.run_embedded()
    finally:
        bench.teardown()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(bench.results, f, indent=2)
    print(table(bench.results))
    print(f"\nfigures: {args.out}")
    broken = [k for k, v in bench.results["runs"].items()
              if isinstance(v, dict) and "exactly_once" in v and not v["exactly_once"]["ok"]]
    if broken:
        sys.exit(f"bench: exactly-once bookkeeping broken in {broken}")


if __name__ == "__main__":
    main()
