"""Checks the deployment files without a container engine or a cluster.

Run by scripts/check_deploy.sh, inside the virtualenv it prepares (check-jsonschema,
kubernetes-validate, PyYAML). Exits non-zero, naming the file and the problem, when:

- a compose file does not parse, its `${VAR…}` interpolation is malformed, a required
  variable (`${VAR:?msg}`) is not reported when unset, or the file, with its YAML anchors
  and merge keys resolved and its variables interpolated, is not valid against the Compose
  Specification's JSON schema (deploy/schemas/compose-spec.json, through check-jsonschema);
  or a service depends on a service, a named volume or a bind-mounted file that is not there;
- a Kubernetes manifest under deploy/kubernetes/ is not valid against the Kubernetes API
  schemas (kubernetes-validate, offline, strict: unknown fields are errors), or, for KEDA's
  kinds, against the openAPIV3Schema of the vendored CustomResourceDefinition
  (deploy/schemas/keda.sh_*.yaml, through check-jsonschema), unknown fields refused as
  `kubectl apply --validate=strict` would; no kind is skipped;
- the manifests disagree with the code or with compose: the probes' paths and ports, the
  workers' termination grace against compose's stop_grace_period, the queue KEDA reads,
  and the Deployments the autoscalers target.
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "deploy" / "schemas"
KUBERNETES = ROOT / "deploy" / "kubernetes"
# The oldest and the newest Kubernetes the manifests are checked against.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
# Values for the variables a compose file requires (`${VAR:?…}`), for the schema check.
REQUIRED_SAMPLE = "0" * 64
# Variables without which compose must refuse to start (docker-compose.yml's header says why).
MUST_REQUIRE = {"docker-compose.yml": {"INLET_MASTER_KEY"}}

failures: list[str] = []


def fail(where: str, message: str) -> None:
    failures.append(f"{where}: {message}")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- compose ------------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(Exception):
    pass


class MissingRequired(InterpolationError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """The Compose Specification's interpolation: `$$`, `$VAR`, `${VAR}` and
    `${VAR:-default}`, `-`, `:?`, `?`, `:+`, `+`, with nested values."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                j += 1
            if depth:
                raise InterpolationError(f"unclosed '${{' in {text!r}")
            out.append(substitute(text[i + 2 : j - 1], env, text))
            i = j
            continue
        m = NAME.match(text, i + 1)
        if not m:
            raise InterpolationError(f"'$' not followed by a name, '{{' or '$' in {text!r}")
        out.append(env.get(m.group(0), ""))
        i = m.end()
    return "".join(out)


def substitute(inner: str, env: dict[str, str], whole: str) -> str:
    m = NAME.match(inner)
    if not m:
        raise InterpolationError(f"no variable name in '${{{inner}}}' of {whole!r}")
    name, rest = m.group(0), inner[m.end() :]
    if not rest:
        return env.get(name, "")
    op = next((o for o in OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise InterpolationError(f"unknown operator in '${{{inner}}}' of {whole!r}")
    arg = rest[len(op) :]
    value = env.get(name)
    unset_or_empty = not value
    missing = unset_or_empty if op.startswith(":") else value is None
    if op in (":-", "-"):
        return interpolate(arg, env) if missing else value
    if op in (":?", "?"):
        if missing:
            raise MissingRequired(f"{name}: {interpolate(arg, env)}")
        return value
    return "" if missing else interpolate(arg, env)


def walk_interpolate(node, env):
    if isinstance(node, dict):
        return {k: walk_interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [walk_interpolate(v, env) for v in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def required_variables(node, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for v in node.values():
            required_variables(v, found)
    elif isinstance(node, list):
        for v in node:
            required_variables(v, found)
    elif isinstance(node, str):
        found.update(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?", node))
    return found


def check_compose(path: Path) -> None:
    where = rel(path)
    try:
        # safe_load resolves anchors, aliases and `<<` merge keys as compose does.
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        fail(where, f"YAML does not parse: {e}")
        return
    if not isinstance(raw, dict):
        fail(where, "not a mapping")
        return
    required = required_variables(raw, set())
    for name in sorted(MUST_REQUIRE.get(where, set()) - required):
        fail(where, f"{name} is no longer required (${{{name}:?…}})")
    env = {name: REQUIRED_SAMPLE for name in required}
    try:
        resolved = walk_interpolate(raw, env)
    except InterpolationError as e:
        fail(where, f"interpolation: {e}")
        return
    # Each required variable, left unset, must stop compose with its message.
    for name in sorted(required):
        try:
            walk_interpolate(raw, {k: v for k, v in env.items() if k != name})
            fail(where, f"${{{name}:?…}} is not reported when {name} is unset")
        except MissingRequired as e:
            if not str(e).startswith(name + ":"):
                fail(where, f"unset {name} reported as {e}")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(resolved, f)
    run_check_jsonschema(where, SCHEMAS / "compose-spec.json", Path(f.name))
    check_compose_references(where, path.parent, resolved)
    print(f"compose: {where}: {len(resolved.get('services', {}))} services, "
          f"profiles {sorted(profiles_of(resolved))}, required {sorted(required)}")


def profiles_of(compose: dict) -> set[str]:
    return {p for s in compose.get("services", {}).values() for p in s.get("profiles", [])}


def check_compose_references(where: str, base: Path, compose: dict) -> None:
    services = compose.get("services", {})
    volumes = set((compose.get("volumes") or {}).keys())
    for name, service in services.items():
        mine = set(service.get("profiles", []))
        deps = service.get("depends_on", {})
        for dep in deps if isinstance(deps, (list, dict)) else []:
            target = services.get(dep)
            if target is None:
                fail(where, f"{name} depends on {dep}, which is not a service")
                continue
            theirs = set(target.get("profiles", []))
            # A dependency must run whenever its dependant does.
            if theirs and not (mine and mine <= theirs):
                fail(where, f"{name} depends on {dep}, which only runs in profiles {sorted(theirs)}")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                if not (base / source).exists():
                    fail(where, f"{name} mounts {source}, which does not exist")
            elif source and source not in volumes:
                fail(where, f"{name} mounts the volume {source}, which is not declared")


def run_check_jsonschema(where: str, schema: Path, instance: Path, label: str = "") -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--schemafile", str(schema),
         str(instance)],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        fail(where, f"not valid against {label or rel(schema)}:\n{out.stdout}{out.stderr}")


# --- Kubernetes ---------------------------------------------------------------------------


def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) → JSON schema, from the vendored CustomResourceDefinitions."""
    schemas = {}
    for path in sorted(SCHEMAS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            api_version = f"{group}/{version['name']}"
            schema["properties"]["apiVersion"] = {"const": api_version}
            schema["properties"]["kind"] = {"const": kind}
            schema["properties"]["metadata"] = {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "minLength": 1}},
            }
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            schemas[(api_version, kind)] = schema
    return schemas


def strict(schema):
    """Refuses fields a schema does not name, as the API server's strict field validation
    does, except where the schema keeps unknown fields."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def manifests() -> list[tuple[Path, int, dict]]:
    docs = []
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        try:
            loaded = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as e:
            fail(rel(path), f"YAML does not parse: {e}")
            continue
        for i, doc in enumerate(d for d in loaded if d is not None):
            docs.append((path, i, doc))
    return docs


def check_kubernetes(docs, crds) -> None:
    for path, i, doc in docs:
        where = f"{rel(path)} document {i + 1}"
        if not isinstance(doc, dict):
            fail(where, "not a mapping")
            continue
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            fail(where, f"apiVersion and kind must be strings (got {api_version!r}, {kind!r})")
            continue
        if api_version.split("/")[0].endswith("keda.sh"):
            schema = crds.get((api_version, kind))
            if schema is None:
                fail(where, f"no vendored CRD for {api_version} {kind} in {rel(SCHEMAS)}")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                schema_file, instance = Path(tmp) / "schema.json", Path(tmp) / "doc.json"
                schema_file.write_text(json.dumps(schema))
                instance.write_text(json.dumps(doc))
                run_check_jsonschema(where, schema_file, instance, f"the {kind} CRD's schema")
            print(f"kubernetes: {where}: {kind} valid against its CRD (requires KEDA)")
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path_in = "/".join(str(p) for p in e.path)
                fail(where, f"Kubernetes {version}: {path_in}: {e.message}")
                break
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
                fail(where, f"Kubernetes {version}: no schema for it: {e}")
                break
            except Exception as e:  # a malformed document the validator cannot read
                fail(where, f"Kubernetes {version}: {type(e).__name__}: {e}")
                break
        else:
            print(f"kubernetes: {where}: {kind} valid on {', '.join(KUBERNETES_VERSIONS)}")


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def check_consistency(docs, compose: dict) -> None:
    by_kind: dict[str, dict[str, tuple[str, dict]]] = {}
    for path, i, doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
            by_kind.setdefault(doc.get("kind"), {})[doc["metadata"].get("name")] = (rel(path), doc)
    config = by_kind.get("ConfigMap", {}).get("inlet", (None, {}))[1].get("data", {})
    routes = (ROOT / "ingest" / "src" / "ops.rs").read_text() + (ROOT / "ingest" / "src" / "routes.rs").read_text()
    listen = {
        "inlet-ingest": {"http": "INLET_LISTEN", "metrics": "INLET_OPS_LISTEN"},
        "inlet-worker": {"metrics": "INLET_WORKER_LISTEN"},
    }
    deployments = by_kind.get("Deployment", {})
    for name, settings in listen.items():
        if name not in deployments:
            fail("deploy/kubernetes", f"no Deployment {name}")
            continue
        where, deployment = deployments[name]
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        # The schema leaves `image` optional (for tools that fill it in); the API server
        # refuses a Deployment without one.
        for c in pod["containers"]:
            if not c.get("image"):
                fail(where, f"container {c.get('name')} has no image")
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        for port_name, setting in settings.items():
            if setting not in config:
                fail(where, f"the ConfigMap sets no {setting}")
            elif ports.get(port_name) != port_of(config[setting]):
                fail(where, f"port {port_name} is {ports.get(port_name)}, {setting} listens on {config[setting]}")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            get = container.get(probe, {}).get("httpGet")
            if not get:
                fail(where, f"no HTTP {probe}")
                continue
            if f'"{get["path"]}"' not in routes:
                fail(where, f"{probe} asks {get['path']}, which ingest/src does not route")
            if get["port"] not in ports:
                fail(where, f"{probe} asks port {get['port']}, which the container does not name")
        if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
            fail(where, "the root file system is not read-only")
        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            fail(where, "runAsNonRoot is not set")
        if "limits" not in container.get("resources", {}) or "requests" not in container.get("resources", {}):
            fail(where, "no resource requests and limits")
    if "inlet-worker" in deployments:
        where, worker = deployments["inlet-worker"]
        grace = worker["spec"]["template"]["spec"].get("terminationGracePeriodSeconds")
        stop = compose.get("services", {}).get("worker", {}).get("stop_grace_period", "")
        if not re.fullmatch(r"\d+s", stop) or grace != int(stop[:-1]):
            fail(where, f"terminationGracePeriodSeconds {grace} is not compose's stop_grace_period {stop!r}")
    queue = re.search(r'pub const QUEUE: &str = "([^"]+)"', (ROOT / "shared/queue/src/rabbitmq/mod.rs").read_text())
    for kind in ("ScaledObject", "HorizontalPodAutoscaler"):
        for name, (where, obj) in by_kind.get(kind, {}).items():
            target = obj["spec"]["scaleTargetRef"]["name"]
            if target not in deployments:
                fail(where, f"{kind} {name} scales {target}, which is no Deployment here")
            for trigger in obj["spec"].get("triggers", []):
                if trigger.get("type") == "rabbitmq" and queue and trigger["metadata"].get("queueName") != queue.group(1):
                    fail(where, f"KEDA reads {trigger['metadata'].get('queueName')}, the work queue is {queue.group(1)}")


def main() -> int:
    compose_files = [ROOT / "docker-compose.yml", *sorted((ROOT / "deploy" / "compose").glob("*.y*ml"))]
    for path in compose_files:
        check_compose(path)
    try:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    except yaml.YAMLError:
        compose = {}  # reported above
    docs = manifests()
    check_kubernetes(docs, crd_schemas())
    # The cross-checks read fields the schemas require: only on documents that passed.
    if not failures:
        check_consistency(docs, compose)
    if failures:
        print(f"\ncheck_deploy: {len(failures)} problem(s):", file=sys.stderr)
        for f in failures:
            print(f"- {f}", file=sys.stderr)
        return 1
    print(f"check_deploy: {len(compose_files)} compose file(s) and {len(docs)} Kubernetes document(s) valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
