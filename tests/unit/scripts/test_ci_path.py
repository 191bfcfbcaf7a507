"""CI hides every tool the bootstrap must install, so a hand-installed one cannot mask a missing step."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _tool(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("#!/bin/sh\necho hand-installed\n")
    (folder / name).chmod(0o755)


def test_hidden_tools_cannot_be_found_and_everything_else_can(tmp_path: Path) -> None:
    hand = tmp_path / "hand"  # a folder where someone installed uv and helm by hand, beside other tools
    for name in ("uv", "helm", "airflow", "jq-like"):
        _tool(hand, name)
    plain = tmp_path / "plain"
    _tool(plain, "other")
    path = f"{hand}:{plain}:/usr/bin:/bin"
    clean = subprocess.run(
        ["bash", str(REPO / "scripts" / "hide-tools.sh")], env={"PATH": path, "HIDE_TOOLS_DIR": str(tmp_path / "farm")},
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    def which(name: str) -> str:
        return subprocess.run(["bash", "-c", f"command -v {name} || true"], env={"PATH": clean},
                              capture_output=True, text=True, check=True).stdout.strip()
    assert which("uv") == "" and which("helm") == "" and which("airflow") == ""
    assert which("jq-like").endswith("/jq-like") and which("other") == str(plain / "other")
    assert str(hand) not in clean.split(":")


def test_ci_runs_the_readme_test_command_with_the_clean_path() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert 'PATH="$clean_path" make test' in script
    assert "make test" in (REPO / "README.md").read_text()
