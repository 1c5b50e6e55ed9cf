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

make_venv() { rm -rf "$venv" && python3 -m venv "$venv" >/dev/null 2>&1; }

if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null \
    || ! "$venv/bin/check-jsonschema" --version 2>/dev/null | grep -q '0.39.0'; then
  # Debian's python3 makes no virtualenv without python3-venv (ensurepip is left out).
  if ! make_venv; then
    echo "check_deploy: python3 -m venv failed; installing python3-venv" >&2
    apt-get install -y -qq python3-venv >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
    make_venv || { echo "check_deploy: cannot create a virtualenv in $venv" >&2; exit 1; }
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "${tools[@]}"
fi

exec "$venv/bin/python" scripts/check_deploy.py
