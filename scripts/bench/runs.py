"""The bench's parts: production (ingest against the reference harness, the drains, end to
end) and embedded, each against its own RabbitMQ vhost, PostgreSQL database or SQLite file."""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from drains import drain, production_drains, scaling
from load import percentile, wrk, write_bodies
from prune import prune_under_load
from services import (AMQP, CEILING_PORT, CEILING_SECRET, INLET_PORT, PG, ROOT, SECRET, Proc,
                      Psql, cpu_delta, cpu_seconds, http, inlet_env, log, machine, mgmt,
                      perf_wrapped, psql, wait_ready)
from workloads import Population


class Bench:
    def __init__(self, args, inlet):
        self.args = args
        self.inlet = inlet
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
        subprocess.run([self.inlet, "migrate"], env=inlet_env(self.pg_url), check=True,
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
                    ref["cpu_seconds"] = cpu_delta(cpu_before, cpu_seconds())
                    row.setdefault("reference", []).append(ref)
                clear()
                cpu_before = cpu_seconds()
                got = wrk(url, ours, c, self.args.duration, self.threads)
                got["cpu_seconds"] = cpu_delta(cpu_before, cpu_seconds())
                row.setdefault("inlet", []).append(got)
                log(f"{mode} ingest c={c} run {rep + 1}: inlet {got['rps']} req/s p99 {got['p99_ms']} ms, cpu {got['cpu_seconds']}"
                    + (f"; reference {ref['rps']} req/s p99 {ref['p99_ms']} ms, cpu {ref['cpu_seconds']}" if ceiling else ""))
            row["inlet_rss_mb"] = round(ingest.peak_rss_mb() or 0, 1)
            out.append(summarize(row))
        return out

    def run_production(self):
        self.setup_production()
        ceiling = self.start_ceiling()
        argv = perf_wrapped([self.inlet, "ingest"], self.args.perf, self.args.out, "prod-ingest")
        ingest = Proc("ingest", argv, inlet_env(self.pg_url, self.amqp_url, **self.ingest_extra()),
                      self.work)
        try:
            wait_ready(f"http://127.0.0.1:{INLET_PORT}/health/ready", "inlet ingest", ingest)
            integration = self.create_integration()
            self.results["runs"]["production_ingest"] = self.ingest_runs(
                "prod", ingest, integration, ceiling, lambda: self.purge("inlet.webhooks"))
            if self.args.ingest_only:
                return

            poll = Psql(self.pgdb)

            def processed():
                count, last = poll.query("SELECT count(*), coalesce(max(processed_at), 0) "
                                         "FROM processed_deliveries").split("|")
                return int(count), int(last)

            def counts():
                rows = psql(self.pgdb, "SELECT (SELECT count(*) FROM processed_deliveries), "
                            "(SELECT count(*) FROM contacts), (SELECT count(*) FROM contact_events)")
                p, c, e = (int(x) for x in rows.split("|"))
                return {"processed": p, "contacts": c, "events": e}

            url = f"http://127.0.0.1:{INLET_PORT}/webhooks/{integration}"
            try:
                drains = production_drains(self, url, processed, counts)
            finally:
                poll.close()
            self.results["runs"]["production_drains"] = drains
            self.results["runs"]["production_drain_scaling"] = scaling(drains)
            worker_env = inlet_env(self.pg_url, self.amqp_url, **self.worker_extra())
            self.results["runs"]["end_to_end"] = self.end_to_end(url, worker_env)
            if self.args.prune_rows:
                self.results["runs"]["prune_under_load"] = prune_under_load(self, url, worker_env)
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

    def end_to_end(self, url, worker_env, during=None):
        """Paced load with a worker running; `during` (seconds into the run, a callable)
        runs something alongside it (the prune part) and its result joins the figures."""
        self.checkpoint()
        rate = self.args.rate
        # Each connection pauses, then waits for its answer (1–2 ms at this rate): with 50
        # connections the period is 50 ms at 1,000 req/s, and the pause is 1 ms short of it
        # so that the answer's time fills the rest (16 connections and a full 16 ms pause
        # reached only 860–890 req/s).
        connections = 50
        delay_ms = max(1, round(connections * 1000 / rate) - 1)
        worker = Proc("e2e-worker", [self.inlet, "worker"], worker_env, self.work)
        try:
            time.sleep(1)
            count = rate * self.args.duration + 1000
            prefix = write_bodies(self.work, "e2e", self.load.creates(count, int(time.time())),
                                  self.threads, SECRET)
            since = int(time.time() * 1000)
            alongside = Alongside(*during) if during else None
            load = wrk(url, prefix, connections, self.args.duration, self.threads, mode="once",
                       delay_ms=delay_ms)
            beside = alongside.result() if alongside else None
            deadline = time.time() + 60
            # Accepted deliveries are logged by the worker as it applies them: wait until
            # every 2xx'd one is in the log.
            accepted = load["requests"] - load["non2xx"]
            sql_done = (f"SELECT count(*) FROM webhook_log w JOIN processed_deliveries p "
                        f"ON p.delivery_id = w.id WHERE w.received_at >= {since}")
            while int(psql(self.pgdb, sql_done)) < accepted and time.time() < deadline:
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
            "non2xx": load["non2xx"],
            "socket_errors": load["socket_errors"],
            "over_100ms": len(slow),
            "over_100ms_received_s": [slow[0], slow[-1]] if slow else None,
            "max_ms": max(lat) if lat else None,
        }
        if beside is not None:
            result["alongside"] = beside
            # The deliveries received while it ran (and a second after): their latency.
            start, end = beside["started_ms"], beside["ended_ms"] + 1000
            window = [latency for latency, at in pairs if start <= at <= end]
            result["window"] = {"deliveries": len(window), "p50_ms": percentile(window, 50),
                                "p99_ms": percentile(window, 99),
                                "max_ms": max(window) if window else None}
        log(f"end to end at {load['rps']} req/s: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"{len(slow)} over 100 ms" + (f" (received {slow[0]}-{slow[-1]} s into the run)" if slow else ""))
        return result

    def run_embedded(self):
        path = os.path.join(self.work, "embedded.db")
        url = f"sqlite://{path}?mode=rwc"
        subprocess.run([self.inlet, "migrate"], env=inlet_env(url), check=True,
                       stdout=subprocess.DEVNULL)
        ingest = Proc("embedded-ingest", [self.inlet, "ingest"],
                      inlet_env(url, **self.ingest_extra()), self.work)

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

            # One worker: SQLite takes one writer at a time, so a second would only queue.
            bodies = Population(self.args.seed + 2).creates(self.args.embedded_drain,
                                                              int(time.time()))
            self.results["runs"]["embedded_drain"] = drain(
                self, "embedded", inlet_env(url, **self.worker_extra()), bodies, len(bodies),
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


class Alongside:
    """Runs `action` in a thread `at` seconds from now, timing it."""

    def __init__(self, at, action):
        self.out = {}

        def go():
            time.sleep(at)
            self.out["started_ms"] = int(time.time() * 1000)
            try:
                self.out.update(action())
            except Exception as e:  # noqa: BLE001 - reported with the figures, and fails the run
                self.out["error"] = repr(e)
            finally:
                self.out["ended_ms"] = int(time.time() * 1000)
        self.thread = threading.Thread(target=go, daemon=True)
        self.thread.start()

    def result(self):
        self.thread.join()
        return self.out


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
