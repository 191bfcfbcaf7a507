"""Every Dockerfile in the repository, linted in Python (hadolint is not installable here).

The rules (pinned base images, a non-root USER, a HEALTHCHECK, small layers) live in
scripts/lint_dockerfiles.py; this test runs them over every Dockerfile, including the services'
ones that other parts of the project own, and checks the linter itself catches what it claims.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ["docker/airflow/Dockerfile", "docker/mlflow/Dockerfile", "services/dashboard/Dockerfile",
            "services/decision/Dockerfile", "services/environment/Dockerfile"]

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def linter(load_script):
    return load_script("lint_dockerfiles")


def test_linter_doctests(linter) -> None:
    result = doctest.testmod(linter, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


def test_every_deployable_has_a_dockerfile(linter) -> None:
    found = [p.relative_to(ROOT).as_posix() for p in linter.dockerfiles(ROOT)]
    missing = [p for p in EXPECTED if p not in found]
    assert not missing, f"no Dockerfile yet for: {missing}"


@pytest.mark.parametrize("relative", EXPECTED)
def test_dockerfile_passes_the_lint(linter, relative: str) -> None:
    path = ROOT / relative
    if not path.exists():
        pytest.fail(f"{relative} does not exist (see test_every_deployable_has_a_dockerfile)")
    findings = linter.lint(path.read_text(), relative)
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize(
    ("dockerfile", "rule"),
    [
        ("FROM python\nUSER 1000\nHEALTHCHECK CMD true\n", "pinned"),
        ("FROM python:3.11\nUSER root\nHEALTHCHECK CMD true\n", "user"),
        ("FROM python:3.11\nUSER app\nUSER 0\nHEALTHCHECK CMD true\n", "user"),
        ("FROM python:3.11 AS build\nUSER app\nHEALTHCHECK CMD true\nFROM python:3.11\n", "user"),
        ("FROM python:3.11\nUSER app\nHEALTHCHECK NONE\n", "healthcheck"),
        ("FROM python:3.11\nCOPY --from=ghcr.io/astral-sh/uv /uv /bin/uv\nUSER app\nHEALTHCHECK CMD true\n", "pinned"),
        ("ARG BASE=python\nFROM ${BASE}\nUSER app\nHEALTHCHECK CMD true\n", "pinned"),
        ("FROM python:3.11\nRUN apt-get update && apt-get install -y curl\nUSER app\nHEALTHCHECK CMD true\n",
         "apt-recommends"),
        ("FROM python:3.11\nRUN python -m pip install \\\n    numpy\nUSER app\nHEALTHCHECK CMD true\n", "pip-cache"),
        ("FROM python:3.11\nADD https://example.com/x.tgz /x\nUSER app\nHEALTHCHECK CMD true\n", "add-url"),
    ],
)
def test_linter_catches(linter, dockerfile: str, rule: str) -> None:
    assert rule in [f.rule for f in linter.lint(dockerfile)]


def test_linter_accepts_multi_stage_with_pinned_args(linter) -> None:
    dockerfile = (
        "ARG PY=3.11\nFROM python:${PY}-slim AS build\nRUN pip install --no-cache-dir uv==0.5\n"
        "FROM python:${PY}-slim\nCOPY --from=build /x /x\nUSER 10001:10001\n"
        "HEALTHCHECK --interval=10s CMD [\"python\", \"-c\", \"print(1)\"]\n"
    )
    assert linter.lint(dockerfile) == []


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".git", ".venv", ".cache", "var"):
        assert entry in ignored, entry
    assert "!.env.example" in ignored


@pytest.mark.parametrize("service", ["dashboard", "decision", "environment"])
def test_service_image_copies_every_services_package_it_imports(service: str) -> None:
    """A service that imports ``services.common`` runs only if its image copies that folder too."""
    import ast

    imported: set[str] = set()
    for path in (ROOT / "services" / service).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                parts = name.split(".")
                if parts[0] == "services" and len(parts) > 1 and parts[1] != service:
                    imported.add(parts[1])
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    missing = [pkg for pkg in sorted(imported) if f"COPY services/{pkg} " not in dockerfile]
    assert not missing, f"services/{service}/Dockerfile does not copy services/{missing}"
