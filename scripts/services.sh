#!/usr/bin/env bash
# Makes sure the services the test suite talks to are installed and running on this machine:
# PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and RabbitMQ on 127.0.0.1:5672 with
# its management API on 15672 (tests create a vhost each through it), plus the HAProxy binary the
# load-balancer test runs. Safe to run repeatedly.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 what=$2 i
  for i in $(seq 1 120); do
    port_open "$port" && return 0
    sleep 0.5
  done
  log "$what did not open port $port"; return 1
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL -------------------------------------------------------------------------
if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    log "installing PostgreSQL"
    apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The tests connect over TCP as postgres without a password.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start
  wait_port 5432 PostgreSQL
fi

# --- RabbitMQ ---------------------------------------------------------------------------
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  log "installing RabbitMQ"
  apt_install rabbitmq-server
fi
if ! port_open 5672; then
  log "starting RabbitMQ"
  rabbitmq-server -detached
  wait_port 5672 RabbitMQ
fi
if ! port_open 15672; then
  log "enabling the RabbitMQ management plugin"
  rabbitmqctl await_startup >/dev/null 2>&1 || true
  rabbitmq-plugins enable rabbitmq_management >/dev/null
  wait_port 15672 "RabbitMQ management"
fi
# --- HAProxy (the load balancer of tests/it/load_balancer.rs; the test starts its own) ---
if ! command -v haproxy >/dev/null 2>&1; then
  log "installing HAProxy"
  apt_install haproxy
fi
log "PostgreSQL and RabbitMQ are up"
