#!/usr/bin/env bash
# The whole test suite: starts (or installs) PostgreSQL and RabbitMQ when they are not
# running, then runs every unit and integration test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo test --workspace --locked "$@"
