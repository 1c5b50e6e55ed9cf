#!/usr/bin/env bash
# Validates the deployment files with no container engine and no cluster: every compose file
# against the Compose Specification's JSON schema (anchors and merge keys resolved, variables
# interpolated), the Kubernetes manifests under deploy/kubernetes/ against the Kubernetes API
# schemas (kubernetes-validate, offline) and KEDA's kinds against their vendored CRDs
# (check-jsonschema), and the manifests against the code (scripts/check_deploy.py says what).
#
# The tools live in a virtualenv of their own, deploy/.venv, made here on first use (a fresh
# Debian machine needs python3-venv, which this installs when it is missing and apt-get can).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${INLET_DEPLOY_VENV:-deploy/.venv}
# Pinned: a new schema bundle or validator may judge the same files differently.
tools=(check-jsonschema==0.39.0 kubernetes-validate==1.37.0)

if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null \
    || ! "$venv/bin/check-jsonschema" --version 2>/dev/null | grep -q '0.39.0'; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "check_deploy: python3-venv is missing; installing it" >&2
    apt-get install -y -qq python3-venv >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${tools[@]}"
fi

exec "$venv/bin/python" scripts/check_deploy.py
