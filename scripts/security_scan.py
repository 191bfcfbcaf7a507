"""Security scans of ``make lint``: bandit over our code, an offline audit of the locked dependencies.

Findings either get fixed or get an entry with a reason in ``.security/allowlist.toml``; anything
else fails the scan. The dependency audit runs offline against the PyPA advisory database (OSV
records) that ships as data beside the repository, ``<repo>/../shared/advisory-db`` (CI lays a copy
of shared/ beside its clone), or the directory named by ``BANDITOPS_ADVISORY_DB``. A missing
database fails the audit: an audit that could not look anything up is not a pass. pip-audit is not
used for the lookup because it only asks OSV's web service, which these machines cannot reach; the
range matching lives in ``scripts/osv_match.py``. The report states the snapshot date of the
database, since advisories published after it are unknown to the audit.

Usage: ``python scripts/security_scan.py bandit|audit|all``.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package
import osv_match

ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST = ROOT / ".security" / "allowlist.toml"
REPORT_DIR = ROOT / "var" / "security"
BANDIT_TARGETS = ("banditops", "services", "dags", "plugins", "stack")


@dataclass(frozen=True)
class AuditOutcome:
    """What the dependency audit could establish."""

    status: str  # "clean" | "vulnerable"
    audited: int
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


# ---------------------------------------------------------------- dependency audit


#: The same snapshot shipped in the repository (CC-BY-4.0, its LICENSE inside), so that a clone
#: without shared/ beside it (a newcomer's, a fresh-check's) still audits offline.
BUNDLED_DB = ROOT / ".security" / "advisory-db-2024-10-10.tar.xz"


def advisory_db() -> Path:
    """``$BANDITOPS_ADVISORY_DB``, else ``<repo>/../shared/advisory-db``, else the bundled snapshot
    (unpacked once into ``var/security/``)."""
    explicit = os.environ.get("BANDITOPS_ADVISORY_DB")
    if explicit:
        return Path(explicit)
    beside = ROOT.parent / "shared" / "advisory-db"
    if (beside / "vulns").is_dir():
        return beside
    unpacked = ROOT / "var" / "security" / "advisory-db"
    if not (unpacked / "vulns").is_dir() and BUNDLED_DB.exists():
        with tarfile.open(BUNDLED_DB) as archive:
            archive.extractall(unpacked.parent, filter="data")  # nosec B202 - our own archive, "data" filter
    return unpacked


def snapshot_date(db: Path) -> str:
    """The "as of" date the database README states (``unknown`` if it states none)."""
    readme = db / "README.md"
    match = re.search(r"\((\d{4}-\d{2}-\d{2})\)", readme.read_text()) if readme.exists() else None
    return match.group(1) if match else "unknown"


def export_requirements(target: Path) -> None:
    """The locked dependency set (all extras) as a pinned requirements file."""
    uv = shutil.which("uv") or str(ROOT / ".cache" / "bin" / "uv")  # make puts .cache/bin on PATH
    subprocess.run(
        [uv, "export", "--frozen", "--all-extras", "--no-hashes", "--no-emit-project", "--quiet", "-o", str(target)],
        cwd=ROOT, check=True,
    )


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` pins of a requirements file (markers, comments and options dropped).

    >>> parse_pins("# via x\\nFoo_Bar==1.0 ; python_version >= '3.9'\\n    # via y\\n-e .\\n")
    {'Foo_Bar': '1.0'}
    """
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", line.strip())
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def locked_pins() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        export_requirements(requirements)
        return parse_pins(requirements.read_text())


def allowed_finding(finding: osv_match.Finding, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The allow-list entry naming this advisory (by id or alias) for this package, if any."""
    ids = {finding.id, *finding.aliases}
    for entry in entries:
        package = entry.get("package")
        if entry["id"] in ids and (not package or canonicalize_name(package) == finding.package):
            return entry
    return None


def audit_outcome(db: Path, pins: dict[str, str], entries: list[dict[str, Any]]) -> AuditOutcome:
    """Audit ``pins`` against ``db``; allow-listed findings do not count as vulnerabilities."""
    if not (db / "vulns").is_dir():
        raise FileNotFoundError(
            f"advisory database not found at {db} (expected {db / 'vulns'}/<package>/*.yaml); "
            "lay shared/ beside the repository or set BANDITOPS_ADVISORY_DB"
        )
    findings = osv_match.audit(db, pins)
    open_findings = [f for f in findings if allowed_finding(f, entries) is None]
    used = {id(e) for f in findings if (e := allowed_finding(f, entries)) is not None}
    stale = [e["id"] for e in entries if id(e) not in used]
    detail = (
        f"{len(pins)} packages audited against {db.name} (advisories as of {snapshot_date(db)}): "
        f"{len(findings)} finding(s), {len(findings) - len(open_findings)} allow-listed with a reason, "
        f"{len(open_findings)} open"
    )
    if stale:
        detail += f"; stale allow-list entries (match nothing now; remove them): {', '.join(stale)}"
    return AuditOutcome(
        "vulnerable" if open_findings else "clean", len(pins),
        [dataclasses.asdict(f) for f in open_findings], detail,
    )


def run_audit() -> int:
    db = advisory_db()
    try:
        outcome = audit_outcome(db, locked_pins(), load_allowlist()["pip_audit"])
    except FileNotFoundError as exc:
        print(f"audit: FAILED: {exc}")
        return 1
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    record = {"checked_at": datetime.now(UTC).isoformat(timespec="seconds"), **outcome.__dict__}
    (REPORT_DIR / "dependency-audit.json").write_text(json.dumps(record, indent=2) + "\n")
    for vuln in outcome.vulnerabilities:
        fixes = ", ".join(vuln["fix_versions"]) or "none yet"
        aliases = f" ({', '.join(vuln['aliases'])})" if vuln["aliases"] else ""
        print(f"audit: {vuln['package']} {vuln['version']}: {vuln['id']}{aliases} fixed in: {fixes}: {vuln['summary']}")
    print(f"audit: {outcome.detail}")
    if outcome.status == "vulnerable":
        print(f"audit: upgrade them, or add a reviewed [[pip_audit]] entry with a reason to {ALLOWLIST.name}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bandit + offline dependency audit with a reviewed allow-list")
    parser.add_argument("scan", choices=["bandit", "audit", "all"])
    args = parser.parse_args(argv)
    rc = 0
    if args.scan in ("bandit", "all"):
        rc |= run_bandit()
    if args.scan in ("audit", "all"):
        rc |= run_audit()
    return rc


if __name__ == "__main__":
    sys.exit(main())
