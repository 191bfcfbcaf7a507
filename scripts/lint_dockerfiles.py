"""Lint every Dockerfile of the repository for what matters at deploy time.

hadolint is not installable from the registries this project can reach, so the rules that carry
most of the weight are checked here, in Python, with hadolint's rule ids where one exists:

- ``pinned``: every ``FROM`` and ``COPY --from=<image>`` names a tag (not ``latest``) or a digest
  (hadolint DL3006/DL3007) -- rebuilds must be reproducible.
- ``user``: the final stage sets ``USER`` to a non-root user (DL3002) -- containers run non-root.
- ``healthcheck``: the final stage has a ``HEALTHCHECK`` that is not ``NONE`` -- compose waits on it.
- ``pip-cache`` / ``apt-recommends``: ``pip install`` uses ``--no-cache-dir`` (DL3042) and
  ``apt-get install`` uses ``--no-install-recommends`` (DL3015) -- small layers.
- ``add-url``: no ``ADD`` of remote URLs (DL3020) -- downloads must be pinned and verified.

Usage: ``python scripts/lint_dockerfiles.py [PATH ...]`` (default: every Dockerfile in the repo).
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", ".cache", "node_modules", "var", "__pycache__", ".mypy_cache", ".ruff_cache"}
ROOT_USERS = {"root", "0", "root:root", "0:0", "root:0", "0:root"}


@dataclass(frozen=True)
class Finding:
    """One rule a Dockerfile breaks."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


def instructions(text: str) -> list[tuple[int, str, str]]:
    """``(line, INSTRUCTION, arguments)`` with continuations joined and comments dropped."""
    result: list[tuple[int, str, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer.append(line[:-1].strip())
            continue
        buffer.append(line)
        joined = " ".join(part for part in buffer if part)
        buffer = []
        keyword, _, rest = joined.partition(" ")
        result.append((start, keyword.upper(), rest.strip()))
    return result


def _substitute(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), m.group(0)), value)


def image_is_pinned(image: str) -> bool:
    """True for ``name:tag`` (tag not ``latest``) or ``name@sha256:...``.

    >>> [image_is_pinned(i) for i in ("python:3.11-slim", "python", "python:latest", "x@sha256:ab", "scratch")]
    [True, False, False, True, True]
    >>> image_is_pinned("localhost:5000/app")
    False
    """
    if image == "scratch" or "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    return bool(tag) and tag != "latest" and "$" not in tag


def lint(text: str, path: str = "Dockerfile") -> list[Finding]:
    """All findings of one Dockerfile's text.

    >>> bad = "FROM python:latest\\nRUN pip install numpy\\nCMD python -m app\\n"
    >>> sorted(f.rule for f in lint(bad))
    ['healthcheck', 'pinned', 'pip-cache', 'user']
    >>> good = ("FROM python:3.11-slim AS base\\nRUN pip install --no-cache-dir numpy\\nUSER 10001\\n"
    ...         "HEALTHCHECK CMD python -c 'print(1)'\\n")
    >>> lint(good)
    []
    """
    findings: list[Finding] = []
    args: dict[str, str] = {}
    stages: set[str] = set()
    final_user: tuple[int, str] | None = None
    final_healthcheck: tuple[int, str] | None = None
    last_from = 0
    for line, keyword, rest in instructions(text):
        if keyword == "ARG" and not last_from:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip("\"'")
        elif keyword == "FROM":
            last_from = line
            final_user, final_healthcheck = None, None
            words = [w for w in rest.split() if not w.startswith("--")]
            image = _substitute(words[0], args) if words else ""
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            if image.lower() not in stages and not image_is_pinned(image):
                findings.append(Finding(path, line, "pinned", f"base image {image!r} is not pinned to a tag or digest"))
        elif keyword == "COPY":
            match = re.search(r"--from=(\S+)", rest)
            if match:
                source = _substitute(match.group(1), args)
                if source.lower() not in stages and not source.isdigit() and not image_is_pinned(source):
                    findings.append(Finding(path, line, "pinned", f"COPY --from image {source!r} is not pinned"))
        elif keyword == "USER":
            final_user = (line, rest.split()[0] if rest else "")
        elif keyword == "HEALTHCHECK":
            final_healthcheck = (line, rest)
        elif keyword == "ADD" and re.search(r"https?://", rest):
            findings.append(Finding(path, line, "add-url", "ADD of a URL: download in RUN with a pinned checksum"))
        elif keyword == "RUN":
            try:
                words = shlex.split(rest, posix=True)
            except ValueError:
                words = rest.split()
            joined = " ".join(words)
            for command in re.split(r"&&|\|\||;", joined):
                tokens = command.split()
                is_pip = any(t in ("pip", "pip3") or t.endswith("/pip") for t in tokens[:4]) or "-m pip" in command
                if is_pip and "install" in tokens and "--no-cache-dir" not in tokens:
                    findings.append(Finding(path, line, "pip-cache", "pip install without --no-cache-dir"))
                if "apt-get" in tokens and "install" in tokens and "--no-install-recommends" not in tokens:
                    message = "apt-get install without --no-install-recommends"
                    findings.append(Finding(path, line, "apt-recommends", message))
    if not last_from:
        return [Finding(path, 1, "pinned", "no FROM instruction")]
    if final_user is None:
        message = "the final stage sets no USER: the container would run as the image's default (often root)"
        findings.append(Finding(path, last_from, "user", message))
    elif final_user[1].lower() in ROOT_USERS:
        message = f"the final stage runs as {final_user[1]!r}; use a non-root user"
        findings.append(Finding(path, final_user[0], "user", message))
    if final_healthcheck is None:
        findings.append(Finding(path, last_from, "healthcheck", "the final stage has no HEALTHCHECK"))
    elif final_healthcheck[1].strip().upper() == "NONE":
        message = "HEALTHCHECK NONE disables the health check"
        findings.append(Finding(path, final_healthcheck[0], "healthcheck", message))
    return findings


def dockerfiles(root: Path = ROOT) -> list[Path]:
    """Every Dockerfile (``Dockerfile``, ``Dockerfile.*``, ``*.Dockerfile``) outside caches and venvs."""
    found = []
    for path in root.rglob("*"):
        if any(part in SKIP_DIRS for part in path.relative_to(root).parts):
            continue
        name = path.name
        if path.is_file() and (name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")):
            found.append(path)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or dockerfiles()
    total = 0
    for path in paths:
        shown = path.resolve().relative_to(ROOT).as_posix() if path.resolve().is_relative_to(ROOT) else str(path)
        findings = lint(path.read_text(), shown)
        total += len(findings)
        for finding in findings:
            print(finding)
        if not findings:
            print(f"{shown}: ok")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
