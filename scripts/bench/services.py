"""The bench's reach into this machine: RabbitMQ's management API, psql, Inlet's HTTP API,
the processes it starts (with their peak RSS), their settings, and who used the CPU."""

import base64
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LUA = os.path.join(ROOT, "scripts", "bench", "wrk.lua")
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


class Psql:
    """One psql kept open for the queries a drain polls with: a poll costs a query, not a
    process, a connection and its TLS handshake (a fresh psql every 250 ms took 5 % of the
    machine's samples during a drain, PostgreSQL's forks included)."""

    END = "__bench_end__"

    def __init__(self, db):
        self.p = subprocess.Popen(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-At", "-q",
             "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def query(self, sql):
        self.p.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + self.END + "\n")
        self.p.stdin.flush()
        lines = []
        for line in self.p.stdout:
            line = line.rstrip("\n")
            if line == self.END:
                return "\n".join(lines)
            lines.append(line)
        sys.exit(f"bench: psql stopped (exit {self.p.wait()}) during: {sql}")

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=10)


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
        # PostgreSQL refuses to start without a master key: the bench's own, not secret.
        "INLET_MASTER_KEY": "62656e63682d6f6e6c792d6d61737465722d6b65792d6e6f742d736563726574",
        "INLET_LOG_FORMAT": "json",
        "RUST_LOG": "warn",
    })
    if amqp_url:
        env["INLET_AMQP_URL"] = amqp_url
    env.update(extra)
    return env


def perf_wrapped(argv, enabled, out, name):
    """`argv` under `perf record -g`, recording to `name`.perf.data next to `out`, if enabled."""
    if not enabled:
        return argv
    return ["perf", "record", "-F", "499", "-g", "-o",
            os.path.join(os.path.dirname(out), f"{name}.perf.data"), "--"] + argv


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


def cpu_delta(before, after):
    return {k: round(after[k] - before[k], 1) for k in after}


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
