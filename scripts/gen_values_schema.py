"""Generate ``helm/banditops/values.schema.json`` from the commented ``values.yaml``.

Why generated: ``values.yaml`` is the documentation (a comment above every key) and the schema
is the contract (type, description and default on every property). Writing both by hand lets
them drift apart; here the comment *is* the description and the value *is* the default, and the
few constraints a value cannot express (enums, ranges, patterns) live in ``CONSTRAINTS`` below.
A key without a comment is an error. ``tests/deploy`` checks the committed schema is up to date.

Usage: ``python scripts/gen_values_schema.py [--check]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "helm" / "banditops"
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z][A-Za-z0-9]*):(?:\s|$)")

#: Keys whose objects take free-form entries (Kubernetes types passed through as they are).
FREEFORM = {
    "commonLabels", "podAnnotations", "nodeSelector", "affinity", "requests", "limits",
    "seccompProfile", "capabilities",
}
#: Array keys whose items are Kubernetes objects passed through as they are.
OBJECT_ITEMS = {"imagePullSecrets", "extraEnv", "tolerations", "publicFrom"}

QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
PULL_POLICY = {"enum": ["Always", "IfNotPresent", "Never"]}
SERVICE_TYPE = {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}
AUTOSCALING = {
    "minReplicas": {"minimum": 1},
    "maxReplicas": {"minimum": 1},
    "targetCPUUtilizationPercentage": {"minimum": 1, "maximum": 100},
}

#: Constraints by dotted path; ``*`` matches any one key.
CONSTRAINTS: dict[str, dict[str, Any]] = {
    "banditops.namespace": {"pattern": r"^[A-Za-z0-9_-]{1,32}$"},
    "banditops.deployMode": {"enum": ["local", "deployed"]},
    "banditops.airflowUrl": {"pattern": r"^https?://"},
    "banditops.seed": {"pattern": r"^[0-9]*$"},
    "podSecurityContext.runAsNonRoot": {"const": True},
    "podSecurityContext.runAsUser": {"minimum": 1},
    "containerSecurityContext.allowPrivilegeEscalation": {"const": False},
    "*.replicaCount": {"minimum": 0},
    "*.image.pullPolicy": PULL_POLICY,
    "*.image.repository": {"minLength": 1},
    "*.containerPort": PORT,
    "*.service.type": SERVICE_TYPE,
    "*.service.port": PORT,
    "*.persistence.size": {"pattern": QUANTITY},
    "*.persistence.accessModes": {
        "items": {"type": "string", "enum": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]},
        "minItems": 1,
    },
    "redis.runAsUser": {"minimum": 1},
    "redis.maxmemoryPercent": {"minimum": 10, "maximum": 90},
    "redis.maxmemoryPolicy": {"enum": ["noeviction"]},
    "externalRedis.port": PORT,
    "externalRedis.database": {"minimum": 0, "maximum": 15},
    "dashboard.mlflowPublicUrl": {"pattern": r"^https?://"},
    **{f"*.autoscaling.{key}": value for key, value in AUTOSCALING.items()},
    # Kubernetes accepts both `cpu: 1` and `cpu: "500m"`.
    **{f"*.resources.{kind}.{res}": {"type": ["string", "number"], "pattern": QUANTITY}
       for kind in ("requests", "limits") for res in ("cpu", "memory")},
}

TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


def descriptions(values_text: str) -> dict[str, str]:
    """Map each key's dotted path to the comment lines directly above it."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        match = KEY_LINE.match(line)
        if not match:
            if not stripped:
                comment = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([key for _, key in stack] + [match["key"]])
        stack.append((indent, match["key"]))
        found[path] = " ".join(comment)
        comment = []
    return found


def _constraints_for(path: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    parts = path.split(".")
    for pattern, extra in CONSTRAINTS.items():
        wanted = pattern.split(".")
        if len(wanted) == len(parts) and all(w in ("*", p) for w, p in zip(wanted, parts, strict=True)):
            merged.update(extra)
    return merged


def schema_for(value: Any, path: str, docs: dict[str, str]) -> dict[str, Any]:
    """The JSON schema of one key: type, description, default, then its constraints."""
    description = docs.get(path, "")
    if not description:
        raise ValueError(f"values.yaml key {path!r} has no comment above it; every key needs one")
    key = path.rsplit(".", 1)[-1]
    node: dict[str, Any] = {"type": TYPES[type(value)], "description": description, "default": value}
    if isinstance(value, dict):
        node["properties"] = {k: schema_for(v, f"{path}.{k}", docs) for k, v in value.items()}
        node["additionalProperties"] = key in FREEFORM
    elif isinstance(value, list):
        node["items"] = {"type": "object"} if key in OBJECT_ITEMS else {"type": "string"}
    node.update(_constraints_for(path))
    return node


def build_schema(values_path: Path) -> dict[str, Any]:
    text = values_path.read_text()
    docs = descriptions(text)
    values = yaml.safe_load(text)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "BanditOps Helm chart values",
        "description": "Generated from values.yaml by scripts/gen_values_schema.py; edit values.yaml, then regenerate.",
        "type": "object",
        "additionalProperties": False,
        "properties": {k: schema_for(v, k, docs) for k, v in values.items()},
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed schema is out of date")
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args(argv)
    expected = render(build_schema(args.chart / "values.yaml"))
    target = args.chart / "values.schema.json"
    if args.check:
        if not target.exists() or target.read_text() != expected:
            print(f"{target} is out of date: run python scripts/gen_values_schema.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(expected)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
