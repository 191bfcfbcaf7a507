"""Security scans of ``make lint``: bandit over our code, pip-audit over the locked dependencies.

Findings either get fixed or get an entry with a reason in ``.security/allowlist.toml``; anything
else fails the scan. The dependency audit needs an advisory source (PyPI's per-version JSON API,
or OSV). When none answers -- on this project's build machines the PyPI mirror serves no
per-version JSON and OSV is out of reach, so pip-audit *skips every package* and still prints
"No known vulnerabilities found" -- this script refuses to call that a pass: it prints
``pip-audit: advisory source unreachable: ...`` and records the status in
``var/security/pip-audit.json``.

Whether "unreachable" fails the build is a choice, documented in docs/deploy.md: by default it is
reported loudly and ``make lint`` continues (a network outage outside the project must not block
every test run, and CI here can never reach OSV); set ``BANDITOPS_AUDIT_STRICT=1`` (e.g. on a
release pipeline with internet) to make it fatal. Real vulnerabilities always fail.

Usage: ``python scripts/security_scan.py bandit|audit|all``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST = ROOT / ".security" / "allowlist.toml"
REPORT_DIR = ROOT / "var" / "security"
BANDIT_TARGETS = ("banditops", "services", "dags", "plugins", "stack")
UNREACHABLE = "advisory source unreachable"


@dataclass(frozen=True)
class AuditOutcome:
    """What the dependency audit could establish."""

    status: str  # "clean" | "vulnerable" | "unreachable"
    audited: int
    skipped: int
    vulnerabilities: list[dict[str, Any]]
    detail: str


def load_allowlist(path: Path = ALLOWLIST) -> dict[str, list[dict[str, Any]]]:
    """The reviewed entries; each must carry a non-empty reason."""
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    for section in ("bandit", "pip_audit"):
        for entry in data.get(section, []):
            if not str(entry.get("reason", "")).strip():
                raise ValueError(f"{path}: a [[{section}]] entry has no reason: {entry}")
    return {"bandit": data.get("bandit", []), "pip_audit": data.get("pip_audit", [])}


def _python_bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


# ---------------------------------------------------------------- bandit


def bandit_findings(targets: tuple[str, ...] = BANDIT_TARGETS) -> list[dict[str, Any]]:
    """Run bandit over the existing targets and return its JSON results."""
    present = [t for t in targets if (ROOT / t).exists()]
    if not present:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bandit.json"
        proc = subprocess.run(
            [_python_bin("bandit"), "-q", "-r", *present, "-f", "json", "-o", str(out)],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )
        if not out.exists():
            raise RuntimeError(f"bandit produced no report (exit {proc.returncode}): {proc.stderr.strip()}")
        report = json.loads(out.read_text())
    if report.get("errors"):
        raise RuntimeError(f"bandit could not scan some files: {report['errors']}")
    results: list[dict[str, Any]] = report.get("results", [])
    return results


def _allowed(finding: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    filename = Path(finding["filename"]).as_posix().removeprefix("./")
    for entry in entries:
        if entry.get("test_id") == finding["test_id"] and any(
            fnmatch.fnmatch(filename, pattern) for pattern in entry.get("paths", ["*"])
        ):
            return entry
    return None


def run_bandit() -> int:
    entries = load_allowlist()["bandit"]
    findings = bandit_findings()
    used: set[int] = set()
    open_findings = []
    for finding in findings:
        entry = _allowed(finding, entries)
        if entry is None:
            open_findings.append(finding)
        else:
            used.add(id(entry))
    for finding in open_findings:
        print(
            f"bandit: {finding['test_id']} {finding['issue_severity']}/{finding['issue_confidence']} "
            f"{finding['filename']}:{finding['line_number']}: {finding['issue_text']}"
        )
    for entry in entries:
        if id(entry) not in used:
            print(f"bandit: stale allow-list entry {entry['test_id']} (matches nothing now; remove it)")
    allowed = len(findings) - len(open_findings)
    print(f"bandit: {len(findings)} finding(s), {allowed} allow-listed with a reason, {len(open_findings)} open")
    if open_findings:
        print("bandit: fix them, or add a reviewed entry with a reason to .security/allowlist.toml")
    return 1 if open_findings else 0


# ---------------------------------------------------------------- pip-audit


def export_requirements(target: Path) -> None:
    """The locked dependency set (all extras) as a pinned requirements file."""
    subprocess.run(
        ["uv", "export", "--frozen", "--all-extras", "--no-hashes", "--no-emit-project", "--quiet", "-o", str(target)],
        cwd=ROOT, check=True,
    )


def classify(report: dict[str, Any], ignored: set[str]) -> AuditOutcome:
    """Turn pip-audit's JSON into an outcome, treating skipped packages as *not audited*.

    >>> classify({"dependencies": [{"name": "a", "version": "1", "vulns": []}]}, set()).status
    'clean'
    >>> classify({"dependencies": [{"name": "a", "skip_reason": "Dependency not found on PyPI"}]}, set()).status
    'unreachable'
    >>> vuln = {"name": "a", "version": "1", "vulns": [{"id": "GHSA-1", "fix_versions": ["2"]}]}
    >>> classify({"dependencies": [vuln]}, set()).status, classify({"dependencies": [vuln]}, {"GHSA-1"}).status
    ('vulnerable', 'clean')
    """
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if "skip_reason" in d]
    audited = [d for d in deps if "skip_reason" not in d]
    vulns = [
        {"package": d["name"], "version": d.get("version"), **v}
        for d in audited
        for v in d.get("vulns", [])
        if v["id"] not in ignored and not set(v.get("aliases", [])) & ignored
    ]
    if vulns:
        return AuditOutcome("vulnerable", len(audited), len(skipped), vulns, f"{len(vulns)} known vulnerability(ies)")
    if skipped and len(skipped) * 2 >= len(deps):
        example = skipped[0]["skip_reason"]
        detail = (
            f"{len(skipped)} of {len(deps)} packages could not be audited (e.g. {example!r}); "
            "the registry's per-version vulnerability data is not served here"
        )
        return AuditOutcome("unreachable", len(audited), len(skipped), [], detail)
    detail = f"{len(audited)} packages audited, no known vulnerabilities"
    if skipped:
        detail += f"; {len(skipped)} not auditable: {', '.join(d['name'] for d in skipped)}"
    return AuditOutcome("clean", len(audited), len(skipped), [], detail)


def run_pip_audit() -> int:
    ignored = {entry["id"] for entry in load_allowlist()["pip_audit"]}
    strict = os.environ.get("BANDITOPS_AUDIT_STRICT", "") == "1"
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        export_requirements(requirements)
        out = Path(tmp) / "audit.json"
        proc = subprocess.run(
            [
                _python_bin("pip-audit"), "-r", str(requirements), "--no-deps", "--disable-pip",
                "--progress-spinner", "off", "-f", "json", "-o", str(out), "--timeout", "20",
            ],
            capture_output=True, text=True, check=False,
        )
        if out.exists() and out.stat().st_size:
            outcome = classify(json.loads(out.read_text()), ignored)
        else:
            reason = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            outcome = AuditOutcome("unreachable", 0, 0, [], f"pip-audit failed: {reason}")
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    record = {"checked_at": datetime.now(UTC).isoformat(timespec="seconds"), **outcome.__dict__}
    (REPORT_DIR / "pip-audit.json").write_text(json.dumps(record, indent=2) + "\n")
    if outcome.status == "vulnerable":
        for vuln in outcome.vulnerabilities:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            print(f"pip-audit: {vuln['package']} {vuln['version']}: {vuln['id']} (fixed in: {fixes})")
        print("pip-audit: upgrade them, or add a reviewed [[pip_audit]] entry with a reason to", ALLOWLIST.name)
        return 1
    if outcome.status == "unreachable":
        print(f"pip-audit: {UNREACHABLE}: {outcome.detail}")
        print(f"pip-audit: the dependencies were NOT audited (recorded in {REPORT_DIR / 'pip-audit.json'}).", end=" ")
        print("BANDITOPS_AUDIT_STRICT=1: failing." if strict else "Set BANDITOPS_AUDIT_STRICT=1 to make this fatal.")
        return 1 if strict else 0
    print(f"pip-audit: {outcome.detail}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bandit + pip-audit with a reviewed allow-list")
    parser.add_argument("scan", choices=["bandit", "audit", "all"])
    args = parser.parse_args(argv)
    rc = 0
    if args.scan in ("bandit", "all"):
        rc |= run_bandit()
    if args.scan in ("audit", "all"):
        rc |= run_pip_audit()
    return rc


if __name__ == "__main__":
    sys.exit(main())
