"""The Helm chart, checked with the real helm binary and kubernetes-validate, offline.

Lint (strict), render with the default and the production values, validate every manifest
against the pinned Kubernetes version's schemas (unknown kinds fail), then assert what the chart
promises: non-root, read-only root filesystems, probes on the health routes, resources, secrets
referenced and never inlined, an HPA for the stateless services, and the schema / ``fail``
guards refusing bad values.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from banditops.store.acl import USERS
from stack.redis_server import APPENDFSYNC

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "banditops"
PRODUCTION_VALUES = ROOT / "helm" / "values-production.yaml"
KUBERNETES_VERSION = "1.35.0"
SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET|_KEY$)")

pytestmark = pytest.mark.deploy


def kinds(manifests: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for doc in manifests:
        grouped.setdefault(doc["kind"], []).append(doc)
    return grouped


def pod_specs(manifests: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every workload and bare pod."""
    specs = []
    for doc in manifests:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            specs.append((doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "Pod":
            specs.append((doc["metadata"]["name"], doc["spec"]))
    return specs


def validate_strict(manifests: list[dict[str, Any]], version: str = KUBERNETES_VERSION) -> list[str]:
    """kubernetes-validate --strict on every manifest; an unknown kind is an error, not a warning."""
    errors = []
    for doc in manifests:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name}: unknown kind for Kubernetes {version}: {exc.message}")
    return errors


# ---------------------------------------------------------------- helm lint / template / validate


@pytest.mark.parametrize("values", [[], [PRODUCTION_VALUES]], ids=["default", "production"])
def test_helm_lint_strict(helm_bin: Path, values: list[Path]) -> None:
    from subprocess import run

    args = [str(helm_bin), "lint", "--strict", str(CHART)] + [a for v in values for a in ("-f", str(v))]
    proc = run(args, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("which", ["default_manifests", "production_manifests"])
def test_rendered_manifests_validate_strictly(which: str, request: pytest.FixtureRequest) -> None:
    manifests = request.getfixturevalue(which)
    assert len(manifests) >= 10
    assert validate_strict(manifests) == []


def test_kubernetes_validate_cli_strict_on_rendered_file(default_manifests: list[dict], tmp_path: Path) -> None:
    """The same check through the tool's own CLI, as `make check-deploy` users would run it."""
    from subprocess import run

    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(default_manifests))
    cli = Path(sys.executable).with_name("kubernetes-validate")
    proc = run([str(cli), "--strict", "-k", KUBERNETES_VERSION, "--quiet", str(rendered)],
               capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "WARN" not in proc.stdout  # the CLI only warns on unknown kinds: we allow none


def test_validator_rejects_unknown_kinds_and_unknown_fields(default_manifests: list[dict]) -> None:
    crd = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert any("unknown kind" in e for e in validate_strict([crd]))
    deployment = json.loads(json.dumps(next(d for d in default_manifests if d["kind"] == "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"  # typo
    assert validate_strict([deployment])


# ---------------------------------------------------------------- what the chart promises


def test_default_render_has_every_component(default_manifests: list[dict]) -> None:
    grouped = kinds(default_manifests)
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in grouped["Deployment"]}
    assert deployments == {"environment", "dashboard", "decision", "mlflow"}
    assert [s["metadata"]["labels"]["app.kubernetes.io/component"] for s in grouped["StatefulSet"]] == ["redis"]
    assert "ConfigMap" in grouped and "Secret" in grouped
    assert any(p["metadata"]["annotations"].get("helm.sh/hook") == "test" for p in grouped["Pod"])


@pytest.mark.parametrize("which", ["default_manifests", "production_manifests"])
def test_every_pod_runs_non_root_with_read_only_root(which: str, request: pytest.FixtureRequest) -> None:
    for name, spec in pod_specs(request.getfixturevalue(which)):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name


@pytest.mark.parametrize("which", ["default_manifests", "production_manifests"])
def test_every_container_has_resources(which: str, request: pytest.FixtureRequest) -> None:
    for name, spec in pod_specs(request.getfixturevalue(which)):
        for container in spec["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name


def test_services_probe_their_health_routes(default_manifests: list[dict]) -> None:
    expected = {"environment": "/healthz", "dashboard": "/healthz", "decision": "/healthz", "mlflow": "/health"}
    seen = {}
    for doc in kinds(default_manifests)["Deployment"]:
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        container = doc["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == expected[component], (component, probe)
            assert container[probe]["httpGet"]["port"] == "http"
        seen[component] = True
    assert set(seen) == set(expected)
    redis = kinds(default_manifests)["StatefulSet"][0]["spec"]["template"]["spec"]["containers"][0]
    assert "redis-cli --user admin --no-auth-warning ping" in " ".join(redis["livenessProbe"]["exec"]["command"])


def test_health_test_pod_calls_every_health_route(default_manifests: list[dict]) -> None:
    pod = next(p for p in kinds(default_manifests)["Pod"] if p["metadata"]["annotations"].get("helm.sh/hook") == "test")
    script = pod["spec"]["containers"][0]["args"][0]
    for component, route in [("environment", "healthz"), ("decision", "healthz"), ("dashboard", "healthz"),
                             ("mlflow", "health")]:
        assert re.search(rf"http://bo-banditops-{component}:\d+/{route}\b", script), component


def test_redis_is_a_statefulset_with_persistence_and_aof(default_manifests: list[dict]) -> None:
    redis = kinds(default_manifests)["StatefulSet"][0]
    claim = redis["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--aclfile") + 1] == "/acl/users.acl" and "--requirepass" not in args
    assert args[args.index("--appendfsync") + 1] == APPENDFSYNC  # the policy the crash tests run under


_BYTES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}


def _redis_args(manifests: list[dict]) -> list[str]:
    return kinds(manifests)["StatefulSet"][0]["spec"]["template"]["spec"]["containers"][0]["args"]


def test_redis_has_a_maxmemory_below_its_limit_and_never_evicts(default_manifests: list[dict], render) -> None:
    """maxmemory is 75% of the container's memory limit; at it Redis refuses writes, never evicts state."""
    container = kinds(default_manifests)["StatefulSet"][0]["spec"]["template"]["spec"]["containers"][0]
    limit = re.fullmatch(r"(\d+)(Ki|Mi|Gi|)", container["resources"]["limits"]["memory"])
    assert limit is not None
    args = container["args"]
    maxmemory = int(args[args.index("--maxmemory") + 1])
    assert maxmemory == int(limit[1]) * _BYTES[limit[2]] * 75 // 100
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    bigger = _redis_args(render(set_values={"redis.resources.limits.memory": "4Gi", "redis.maxmemoryPercent": 60}))
    assert int(bigger[bigger.index("--maxmemory") + 1]) == 4 * 2**30 * 60 // 100


def test_hpa_scales_the_decision_deployment(default_manifests: list[dict], production_manifests: list[dict]) -> None:
    hpas = kinds(default_manifests)["HorizontalPodAutoscaler"]
    assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas] == ["bo-banditops-decision"]
    assert hpas[0]["spec"]["minReplicas"] == 2 and hpas[0]["spec"]["maxReplicas"] == 10
    deployments = {d["metadata"]["name"]: d for d in kinds(default_manifests)["Deployment"]}
    decision = deployments["bo-banditops-decision"]
    assert "replicas" not in decision["spec"]  # the HPA owns the replica count
    production_hpas = kinds(production_manifests)["HorizontalPodAutoscaler"]
    targets = sorted(h["spec"]["scaleTargetRef"]["name"] for h in production_hpas)
    assert targets == ["bo-banditops-dashboard", "bo-banditops-decision"]


def _env_entries(manifests: list[dict]) -> list[tuple[str, dict]]:
    return [(name, env) for name, spec in pod_specs(manifests) for c in spec["containers"] for env in c.get("env", [])]


def test_secrets_are_referenced_never_inlined(render) -> None:
    token, password = "s3cr3t-token-value-0123456789", "s3cr3t-redis-password-987654"
    manifests = render(set_values={"secrets.envAdminToken": token, "redis.auth.passwords.decision": password})
    for name, env in _env_entries(manifests):
        if SECRET_NAME.search(env["name"]):
            assert "secretKeyRef" in env.get("valueFrom", {}), (name, env)
    non_secret_text = yaml.safe_dump_all([d for d in manifests if d["kind"] != "Secret"])
    assert token not in non_secret_text and password not in non_secret_text
    assert base64.b64encode(token.encode()).decode() not in non_secret_text
    secrets = {s["metadata"]["name"]: s["data"] for s in kinds(manifests)["Secret"]}
    assert base64.b64decode(secrets["bo-banditops-secrets"]["envAdminToken"]).decode() == token
    assert base64.b64decode(secrets["bo-banditops-redis"]["decision-password"]).decode() == password
    config = kinds(manifests)["ConfigMap"][0]["data"]
    assert not any(SECRET_NAME.search(key) for key in config), config


def test_generated_secrets_are_random_and_long(default_manifests: list[dict]) -> None:
    secrets = {s["metadata"]["name"]: s for s in kinds(default_manifests)["Secret"]}
    data = secrets["bo-banditops-secrets"]["data"]
    tokens = [base64.b64decode(data[k]).decode() for k in ("envAdminToken", "decisionAdminToken", "dashboardPassword")]
    assert all(len(t) == 40 for t in tokens) and len(set(tokens)) == 3


def test_existing_secrets_mean_no_chart_secrets(production_manifests: list[dict]) -> None:
    assert "Secret" not in kinds(production_manifests)
    refs = {env["valueFrom"]["secretKeyRef"]["name"] for _, env in _env_entries(production_manifests)
            if "valueFrom" in env}
    assert refs == {"banditops-secrets", "banditops-redis", "banditops-mlflow-db", "banditops-mlflow-auth"}


def test_production_mlflow_uses_the_external_database(production_manifests: list[dict]) -> None:
    mlflow = next(d for d in kinds(production_manifests)["Deployment"] if d["metadata"]["name"].endswith("-mlflow"))
    env = {e["name"]: e for e in mlflow["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {"name": "banditops-mlflow-db", "key": "uri"}
    assert mlflow["spec"]["replicas"] == 2


# ---------------------------------------------------------------- refusing bad values


@pytest.mark.parametrize(
    ("set_values", "message"),
    [
        ({"decision.image.pullPolicy": "Sometimes"}, "pullPolicy"),
        ({"decision.service.port": 70000}, "port"),
        ({"decision.replicaCount": -1}, "replicaCount"),
        ({"decison.enabled": True}, "decison"),  # a typo'd key is refused, not ignored
        ({"podSecurityContext.runAsNonRoot": False}, "runAsNonRoot"),
        ({"banditops.deployMode": "prod"}, "deployMode"),
        ({"redis.persistence.size": "lots"}, "size"),
        ({"redis.maxmemoryPolicy": "allkeys-lru"}, "maxmemoryPolicy"),  # would silently evict state
        ({"redis.maxmemoryPercent": 100}, "maxmemoryPercent"),
    ],
)
def test_schema_refuses_bad_values(helm_template, set_values: dict, message: str) -> None:
    proc = helm_template(set_values=set_values)
    assert proc.returncode != 0
    assert "schema" in proc.stderr.lower() and message in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("set_values", "message"),
    [
        ({"environment.replicaCount": 2}, "environment.replicaCount must be 0 or 1"),
        ({"redis.enabled": False}, "needs externalRedis.host"),
        ({"mlflow.replicaCount": 2}, "needs mlflow.externalDatabase.enabled=true"),
        ({"mlflow.externalDatabase.enabled": True}, "needs mlflow.externalDatabase.existingSecret"),
        ({"decision.autoscaling.minReplicas": 5, "decision.autoscaling.maxReplicas": 3}, "must not exceed"),
        ({"secrets.envAdminToken": "change-me-environment-admin-token"}, "placeholder"),
        ({"redis.resources.limits.memory": "1.5Gi"}, "to derive maxmemory"),
    ],
)
def test_impossible_combinations_fail(helm_template, set_values: dict, message: str) -> None:
    proc = helm_template(set_values=set_values)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_external_redis_is_wired_through_its_secret(render) -> None:
    manifests = render(set_values={"redis.enabled": False, "externalRedis.host": "redis.example",
                                   "externalRedis.existingSecret": "ext-redis"})
    assert "StatefulSet" not in kinds(manifests)
    urls = {e["value"] for _, e in _env_entries(manifests) if e["name"] == "BANDITOPS_REDIS_URL"}
    assert urls == {f"redis://{u}:$(BANDITOPS_REDIS_PASSWORD)@redis.example:6379/0"
                    for u in ("decision", "dashboard", "environment")}
    password_envs = [e for _, e in _env_entries(manifests) if e["name"] == "BANDITOPS_REDIS_PASSWORD"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in password_envs}
    assert refs == {"ext-redis"}


# ---------------------------------------------------------------- values.yaml <-> values.schema.json


def test_values_schema_is_generated_from_values_yaml(load_script) -> None:
    generator = load_script("gen_values_schema")
    assert generator.main(["--check"]) == 0, "run: python scripts/gen_values_schema.py"


def test_every_schema_property_has_type_description_default() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, schema)
    jsonschema.validate(yaml.safe_load(PRODUCTION_VALUES.read_text()), schema)

    def walk(node: dict, path: str) -> int:
        count = 0
        for key, child in node.get("properties", {}).items():
            for field in ("type", "description", "default"):
                assert field in child, f"{path}.{key} lacks {field}"
            assert child["description"].strip(), f"{path}.{key}"
            count += 1 + walk(child, f"{path}.{key}")
        return count

    assert walk(schema, "") > 100


def test_a_key_without_comment_is_refused(load_script, tmp_path: Path) -> None:
    generator = load_script("gen_values_schema")
    (tmp_path / "values.yaml").write_text("# documented\na: 1\nb: 2\n")
    with pytest.raises(ValueError, match="'b' has no comment"):
        generator.build_schema(tmp_path / "values.yaml")


# ---------------------------------------------------------------- NetworkPolicy


def _pod_labels(manifests: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Labels of every pod the chart creates (workload templates and bare pods), by component."""
    labels = {}
    for doc in manifests:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            pod = doc["spec"]["template"]["metadata"]["labels"]
        elif doc["kind"] == "Pod":
            pod = doc["metadata"]["labels"]
        else:
            continue
        labels[pod["app.kubernetes.io/component"]] = pod
    return labels


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # the chart uses matchLabels only
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _policies(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"].removeprefix("bo-banditops-"): p["spec"] for p in kinds(manifests)["NetworkPolicy"]}


def _allowed_peers(spec: dict[str, Any], pods: dict[str, dict[str, str]]) -> set[str]:
    """Release components (and "airflow") one policy's ingress rules admit; "*" if anyone."""
    peers: set[str] = set()
    for rule in spec.get("ingress", []):
        if "from" not in rule:
            return {"*"}
        for peer in rule["from"]:
            if "namespaceSelector" in peer:
                assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "airflow"}}
                assert peer["podSelector"] == {"matchLabels": {"tier": "airflow"}}
                peers.add("airflow")
            else:
                peers |= {c for c, labels in pods.items() if _selects(peer["podSelector"], labels)}
    return peers


@pytest.mark.parametrize("which", ["default_manifests", "production_manifests"])
def test_network_policies_select_every_pod_and_deny_by_default(which: str, request: pytest.FixtureRequest) -> None:
    manifests = request.getfixturevalue(which)
    policies, pods = _policies(manifests), _pod_labels(manifests)
    deny = policies["default-deny"]
    assert deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    for component, labels in pods.items():
        assert _selects(deny["podSelector"], labels), component
        own = [n for n, spec in policies.items() if n != "default-deny" and _selects(spec["podSelector"], labels)]
        assert own == ([] if component == "test" else [f"{component}-ingress"]), component
    assert not validate_strict(kinds(manifests)["NetworkPolicy"])


def test_only_decision_and_dashboard_are_reachable_from_outside(default_manifests: list[dict]) -> None:
    policies, pods = _policies(default_manifests), _pod_labels(default_manifests)
    allowed = {name.removesuffix("-ingress"): _allowed_peers(spec, pods)
               for name, spec in policies.items() if name != "default-deny"}
    assert allowed == {
        "decision": {"*"},
        "dashboard": {"*"},
        "environment": {"dashboard", "test", "airflow"},
        "mlflow": {"dashboard", "test", "airflow"},
        "redis": {"environment", "decision", "dashboard", "redis", "airflow"},
    }
    ports = {name: [p["port"] for r in spec["ingress"] for p in r["ports"]] for name, spec in policies.items()
             if name != "default-deny"}
    assert ports["redis-ingress"] == ["redis"] and ports["mlflow-ingress"] == ["http"]


def test_network_policy_can_be_switched_off_and_public_peers_narrowed(render, tmp_path: Path) -> None:
    assert "NetworkPolicy" not in kinds(render(set_values={"networkPolicy.enabled": False}))
    values = tmp_path / "narrow.yaml"
    peer = {"namespaceSelector": {"matchLabels": {"team": "edge"}}}
    values.write_text(yaml.safe_dump({"networkPolicy": {"publicFrom": [peer]}}))
    narrowed = render(values)
    decision = _policies(narrowed)["decision-ingress"]
    assert decision["ingress"][0]["from"] == [peer]


# ---------------------------------------------------------------- least privilege: Redis users, secrets, MLflow auth


def _secret_refs(spec: dict[str, Any], containers: str = "containers") -> dict[str, set[tuple[str, str]]]:
    """(Secret, key) pairs each container of a pod spec reads."""
    return {c["name"]: {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                        for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
            for c in spec.get(containers, [])}


def test_each_pod_gets_only_the_secrets_it_uses(default_manifests: list[dict]) -> None:
    specs = dict(pod_specs(default_manifests))
    main, redis, auth = "bo-banditops-secrets", "bo-banditops-redis", "bo-banditops-mlflow-auth"
    assert _secret_refs(specs["bo-banditops-decision"]) == {
        "decision": {(redis, "decision-password"), (main, "decisionAdminToken")}}
    assert _secret_refs(specs["bo-banditops-environment"]) == {
        "environment": {(redis, "environment-password"), (main, "envAdminToken")}}
    assert _secret_refs(specs["bo-banditops-dashboard"]) == {"dashboard": {
        (redis, "dashboard-password"), (main, "envAdminToken"), (main, "dashboardPassword"),
        (main, "airflowUsername"), (main, "airflowPassword"), (auth, "admin-username"), (auth, "admin-password")}}
    assert _secret_refs(specs["bo-banditops-redis"]) == {"redis": {(redis, "admin-password")}}
    assert _secret_refs(specs["bo-banditops-redis"], "initContainers") == {
        "acl": {(redis, f"{u}-password") for u in USERS}}
    assert _secret_refs(specs["bo-banditops-mlflow"])["mlflow"] == {
        (auth, "admin-username"), (auth, "admin-password"), (auth, "flask-secret-key")}
    for user in ("decision", "dashboard", "environment"):
        env = {e["name"]: e for e in specs[f"bo-banditops-{user}"]["containers"][0]["env"]}
        assert env["BANDITOPS_REDIS_URL"]["value"].startswith(f"redis://{user}:$(BANDITOPS_REDIS_PASSWORD)@")


def test_redis_loads_the_acl_the_store_generates(default_manifests: list[dict], tmp_path: Path) -> None:
    """The init container's own command, run here with its env: its file is acl_file() of the release namespace."""
    import os
    import subprocess

    from banditops.store.acl import acl_file

    spec = dict(pod_specs(default_manifests))["bo-banditops-redis"]
    init = spec["initContainers"][0]
    assert init["command"][:4] == ["banditops", "redis-acl", "--out", "/acl/users.acl"]
    namespace = init["command"][init["command"].index("--namespace") + 1]
    assert namespace == "bo"  # banditops.namespace in values.yaml
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["acl"] == "/acl" and {m["name"] for m in init["volumeMounts"]} == {"acl"}
    passwords = {u: f"{u}-pw-0123456789" for u in USERS}
    env = {"PATH": os.environ["PATH"], **{e["name"]: passwords[e["valueFrom"]["secretKeyRef"]["key"][:-9]]
                                         for e in init["env"] if "valueFrom" in e}}
    out = tmp_path / "users.acl"
    command = [str(Path(sys.executable).parent / "banditops"), *init["command"][1:]]
    command[command.index("/acl/users.acl")] = str(out)
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == acl_file(namespace, passwords)
    probe = spec["containers"][0]["readinessProbe"]["exec"]["command"][-1]
    assert "--user admin" in probe


def test_mlflow_authenticates_and_the_dashboard_signs_in(default_manifests: list[dict]) -> None:
    specs = dict(pod_specs(default_manifests))
    mlflow = specs["bo-banditops-mlflow"]["containers"][0]
    assert "args" not in mlflow and "command" not in mlflow  # the image's start.sh: --app-name basic-auth
    names = {e["name"] for e in mlflow["env"]}
    assert {"MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"} <= names
    dashboard = {e["name"] for e in specs["bo-banditops-dashboard"]["containers"][0]["env"]}
    assert {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= dashboard
    secret = next(s for s in kinds(default_manifests)["Secret"] if s["metadata"]["name"] == "bo-banditops-mlflow-auth")
    assert len(base64.b64decode(secret["data"]["admin-password"])) == 40
    airflow = yaml.safe_load((ROOT / "helm" / "airflow-values.yaml").read_text())
    from_secret = {s["envName"]: s["secretKey"] for s in airflow["secret"]}
    assert from_secret["MLFLOW_TRACKING_USERNAME"] == "mlflow-username"
    assert from_secret["MLFLOW_TRACKING_PASSWORD"] == "mlflow-password"
