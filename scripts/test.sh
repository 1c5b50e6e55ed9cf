#!/usr/bin/env bash
# The whole test suite: starts (or installs) PostgreSQL and RabbitMQ when they are not
# running, installs the Loops SDK and schemathesis that the API tests drive, Chromium and
# playwright-core for the console test, and the aiosmtpd SMTP server that the email tests
# deliver to, then runs every unit and integration test of
# the workspace and closes with one line counting them all.
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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-targets --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
