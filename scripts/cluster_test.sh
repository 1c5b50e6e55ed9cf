#!/usr/bin/env bash
# The three-node RabbitMQ cluster test (tests/it/reliability/cluster.rs), on its own: it
# starts its brokers with scripts/rabbitmq-cluster.sh (ports 5701-5703, 25701-25703), takes
# about two minutes, and is kept out of scripts/test.sh while its failover stalls in some
# runs (docs/scaling.md, "Known failure"). Run it before a release and after any change to
# shared/queue; its exit status is the test's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
exec cargo test --locked --test it reliability::cluster -- --nocapture "$@"
