"""The load the bench sends with wrk: signed delivery files, timed load runs, and the
preloading of a backlog (each delivery posted once, every answer awaited)."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time

from services import LUA


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


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]
