#!/usr/bin/env python3
"""Follows the README's walkthroughs in order, as a new user would, and checks every answer
the README promises.

Every ```sh block of the README, top to bottom, is run by bash in one fresh folder while an
`inlet serve` started there on the embedded defaults is running. A block is cut into steps at
blank lines; a comment line right after a step that starts like an answer (`# {`, `# [`,
`# 202 {`) is what the step must print, with `…` matching anything. Steps that only read
(`curl` without a body, `ls`) are retried for a few seconds, as a reader would look again
while the worker catches up; the others run once.

The README's placeholders are filled in the way a reader fills them: `KEY=inlet_...` gets the
key `inlet serve` printed, and `int_…`, `tpl_…`, `wf_…` the last such id an earlier step
printed. `cargo run --release --` is the binary under test, and the listen address a free port.

    python3 scripts/readme_walkthrough.py --binary target/debug/inlet
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWER = re.compile(r"^# (\d{3} )?[\[{]")
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.M)
PLACEHOLDER = re.compile(r"\b(int|tpl|wf)_(…|\.\.\.)")
READ_ONLY = re.compile(r"^(curl -s [^|]*\"?http[^ ]*\"?( -H [^-][^|]*)?|ls [^|]*)$", re.S)


def blocks(readme):
    """The ```sh blocks, in order, each a list of lines."""
    out, current = [], None
    for line in readme.splitlines():
        if current is None and line.strip() == "```sh":
            current = []
        elif current is not None and line.strip() == "```":
            out.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return out


def steps(lines):
    """(command, expected answer or None) pairs of one block."""
    out, command = [], []
    for line in lines + [""]:
        if ANSWER.match(line) and command:
            out.append(("\n".join(command), line[2:].strip()))
            command = []
        elif not line.strip():
            if command:
                out.append(("\n".join(command), None))
                command = []
        elif not command and line.startswith("#"):
            continue
        else:
            command.append(line)
    return out


def pattern(expected):
    """A regex of an answer the README shows, `…` standing for anything."""
    parts = [re.escape(p) for p in expected.split("…")]
    return re.compile(".*".join(parts), re.S)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Walkthrough:
    def __init__(self, binary):
        self.binary = os.path.abspath(binary)
        self.folder = tempfile.mkdtemp(prefix="inlet-readme-")
        self.addr = f"127.0.0.1:{free_port()}"
        self.ids = {}
        self.state = os.path.join(self.folder, ".walkthrough-vars")
        open(self.state, "w").close()
        self.server = None
        self.key = None

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("INLET_")}
        env["INLET_LISTEN"] = self.addr
        env["INLET_LOG_FORMAT"] = "json"
        env["PATH"] = os.path.dirname(self.binary) + os.pathsep + env.get("PATH", "")
        return env

    def start(self):
        self.log = open(os.path.join(self.folder, "serve.log"), "w+")
        self.server = subprocess.Popen([self.binary, "serve"], cwd=self.folder, env=self.env(),
                                       stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.server.stdout.readline()
            if not line:
                break
            found = re.search(r"(inlet_[A-Za-z0-9_]+)", line)
            if found:
                self.key = found.group(1)
                break
        if not self.key:
            self.fail("inlet serve printed no API key")
        while time.time() < deadline:
            try:
                with socket.create_connection(self.addr.split(":"), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.fail(f"inlet serve is not listening on {self.addr}")

    def fill(self, command):
        command = command.replace("cargo run --release --", "inlet")
        command = command.replace("127.0.0.1:8080", self.addr)
        command = re.sub(r"^KEY=inlet_\S*", f"KEY={self.key}", command, flags=re.M)

        def placeholder(m):
            prefix = m.group(1)
            if prefix not in self.ids:
                self.fail(f"{m.group(0)} is used before any step printed a {prefix}_ id")
            return self.ids[prefix]

        return PLACEHOLDER.sub(placeholder, command)

    def run(self, command):
        names = sorted(set(ASSIGNMENT.findall(command)))
        keep = "".join(f"declare -p {n} >> {self.state!r}\n" for n in names)
        script = f"set -o pipefail\nsource {self.state!r}\n{command}\nstatus=$?\n{keep}exit $status\n"
        done = subprocess.run(["bash", "-c", script], cwd=self.folder, env=self.env(),
                              capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr

    def step(self, number, command, expected):
        command = self.fill(command)
        if expected is not None:
            expected = expected.replace("127.0.0.1:8080", self.addr)
        retry = expected is not None and READ_ONLY.match(command.strip())
        deadline = time.time() + (15 if retry else 0)
        while True:
            status, output = self.run(command)
            ok = status == 0 and (expected is None or pattern(expected).search(output))
            if ok or time.time() >= deadline:
                break
            time.sleep(0.25)
        if not ok:
            self.fail(f"step {number} failed (exit {status}):\n$ {command}\n{output}\n"
                      f"expected: {expected}")
        for value, prefix in re.findall(r'"id":"((int|tpl|wf)_[A-Za-z0-9]+)"', output):
            self.ids[prefix] = value
        print(f"ok   step {number}: {command.splitlines()[0][:90]}")

    def fail(self, message):
        print(f"README walkthrough: {message}", file=sys.stderr)
        if self.server:
            self.log.seek(0)
            print("--- inlet serve's log (last lines) ---", file=sys.stderr)
            print("".join(self.log.readlines()[-20:]), file=sys.stderr)
        self.stop()
        sys.exit(1)

    def stop(self):
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "inlet"))
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    args = ap.parse_args()
    with open(args.readme, encoding="utf-8") as f:
        readme = f.read()
    walk = Walkthrough(args.binary)
    walk.start()
    number = 0
    for block in blocks(readme):
        for command, expected in steps(block):
            number += 1
            walk.step(number, command, expected)
    if number == 0:
        walk.fail("the README has no ```sh block")
    walk.stop()
    print(f"README walkthrough: {number} steps as written")


if __name__ == "__main__":
    main()
