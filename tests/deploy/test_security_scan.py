"""The security scans of `make lint`: the allow-list is well formed and the audit never passes silently."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def scan(load_script):
    return load_script("security_scan")


def test_security_scan_doctests(scan, load_script) -> None:
    for module in (scan, load_script("osv_match")):
        result = doctest.testmod(module)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


def test_allowlist_entries_all_have_reasons(scan) -> None:
    entries = scan.load_allowlist(ROOT / ".security" / "allowlist.toml")
    assert entries["bandit"], "the reviewed bandit entries are missing"
    for entry in entries["bandit"]:
        assert entry["test_id"].startswith("B") and entry["paths"] and len(entry["reason"]) > 40


def test_an_entry_without_reason_is_refused(scan, tmp_path: Path) -> None:
    path = tmp_path / "allowlist.toml"
    path.write_text('[[bandit]]\ntest_id = "B101"\npaths = ["*"]\nreason = ""\n')
    with pytest.raises(ValueError, match="has no reason"):
        scan.load_allowlist(path)


def _advisory(db: Path, package: str, vuln_id: str, events: list[dict[str, str]], **extra: object) -> None:
    folder = db / "vulns" / package.lower()
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "id": vuln_id, "summary": f"synthetic advisory {vuln_id}",
        "affected": [{"package": {"name": package, "ecosystem": "PyPI"},
                      "ranges": [{"type": "ECOSYSTEM", "events": events}], **extra.pop("affected_extra", {})}],
        **extra,
    }
    (folder / f"{vuln_id}.yaml").write_text(yaml.safe_dump(record))


@pytest.fixture()
def advisory_db(tmp_path: Path) -> Path:
    """A tiny OSV tree in the PyPA layout: vulns/<package>/<id>.yaml."""
    db = tmp_path / "advisory-db"
    _advisory(db, "Foo_Lib", "PYSEC-1", [{"introduced": "0"}, {"fixed": "2.0"}], aliases=["CVE-2099-0001"])
    _advisory(db, "bar", "GHSA-last", [{"introduced": "1.0"}, {"last_affected": "1.5"}])
    _advisory(db, "baz", "PYSEC-listed", [{"introduced": "0"}], affected_extra={"versions": ["0.9"]})
    _advisory(db, "baz", "PYSEC-withdrawn", [{"introduced": "0"}], withdrawn="2024-01-01T00:00:00Z")
    (db / "README.md").write_text("Snapshot of commit abc (2024-10-10): data only.\n")
    return db


def _ids(outcome) -> set[str]:
    return {v["id"] for v in outcome.vulnerabilities}


def test_unlisted_finding_fails_and_names_the_fix(scan, advisory_db: Path) -> None:
    outcome = scan.audit_outcome(advisory_db, {"foo-lib": "1.9"}, [])
    assert outcome.status == "vulnerable" and _ids(outcome) == {"PYSEC-1"}
    assert outcome.vulnerabilities[0]["fix_versions"] == ("2.0",)
    assert "advisories as of 2024-10-10" in outcome.detail


def test_allow_listed_finding_passes_by_id_or_alias(scan, advisory_db: Path) -> None:
    for entry_id in ("PYSEC-1", "CVE-2099-0001"):
        entries = [{"id": entry_id, "package": "foo.lib", "reason": "reviewed"}]
        outcome = scan.audit_outcome(advisory_db, {"foo-lib": "1.9"}, entries)
        assert outcome.status == "clean", entry_id
        assert "1 allow-listed with a reason, 0 open" in outcome.detail
    other_package = [{"id": "PYSEC-1", "package": "bar", "reason": "reviewed"}]
    assert scan.audit_outcome(advisory_db, {"foo-lib": "1.9"}, other_package).status == "vulnerable"


def test_fixed_version_is_not_reported_and_unused_entries_are_stale(scan, advisory_db: Path) -> None:
    entries = [{"id": "PYSEC-1", "package": "foo-lib", "reason": "reviewed"}]
    outcome = scan.audit_outcome(advisory_db, {"Foo_Lib": "2.0", "unrelated": "1.0"}, entries)
    assert outcome.status == "clean" and outcome.audited == 2
    assert "stale allow-list entries" in outcome.detail and "PYSEC-1" in outcome.detail


@pytest.mark.parametrize(("version", "affected"), [("0.9", False), ("1.0", True), ("1.5", True), ("1.5.1", False)])
def test_last_affected_is_inclusive(scan, advisory_db: Path, version: str, affected: bool) -> None:
    outcome = scan.audit_outcome(advisory_db, {"bar": version}, [])
    assert _ids(outcome) == ({"GHSA-last"} if affected else set())


def test_versions_list_matches_and_withdrawn_records_do_not(scan, advisory_db: Path) -> None:
    assert _ids(scan.audit_outcome(advisory_db, {"baz": "0.9"}, [])) == {"PYSEC-listed"}
    # "introduced 0" alone covers every version, but the withdrawn record must not count
    assert _ids(scan.audit_outcome(advisory_db, {"baz": "5.0"}, [])) == {"PYSEC-listed"}


def test_missing_database_is_a_failure_not_a_skip(scan, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="BANDITOPS_ADVISORY_DB"):
        scan.audit_outcome(tmp_path / "nowhere", {"foo": "1.0"}, [])


def test_database_path_follows_env(scan, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BANDITOPS_ADVISORY_DB", raising=False)
    beside = ROOT.parent / "shared" / "advisory-db"
    expected = beside if (beside / "vulns").is_dir() else ROOT / "var" / "security" / "advisory-db"
    assert scan.advisory_db() == expected
    monkeypatch.setenv("BANDITOPS_ADVISORY_DB", str(tmp_path))
    assert scan.advisory_db() == tmp_path


def test_bandit_allowlist_matches_by_test_id_and_path(scan) -> None:
    entries = [{"test_id": "B603", "paths": ["banditops/*.py"], "reason": "x" * 50}]
    assert scan._allowed({"test_id": "B603", "filename": "./banditops/settings.py"}, entries)
    assert scan._allowed({"test_id": "B602", "filename": "banditops/settings.py"}, entries) is None
    assert scan._allowed({"test_id": "B603", "filename": "services/x.py"}, entries) is None


def test_a_clone_without_shared_audits_against_the_bundled_snapshot(scan, tmp_path, monkeypatch) -> None:
    """A newcomer's clone has no ../shared: the snapshot shipped in .security/ is unpacked and used."""
    monkeypatch.delenv("BANDITOPS_ADVISORY_DB", raising=False)
    monkeypatch.setattr(scan, "ROOT", tmp_path / "repo")
    (tmp_path / "repo" / ".security").mkdir(parents=True)
    bundled = tmp_path / "repo" / ".security" / scan.BUNDLED_DB.name
    bundled.write_bytes(scan.BUNDLED_DB.read_bytes())
    monkeypatch.setattr(scan, "BUNDLED_DB", bundled)
    db = scan.advisory_db()
    assert db == tmp_path / "repo" / "var" / "security" / "advisory-db"
    assert scan.snapshot_date(db) == "2024-10-10"
    assert len(list((db / "vulns").glob("*/*.yaml"))) > 2000
