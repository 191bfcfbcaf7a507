"""The security scans of `make lint`: the allow-list is well formed and the audit never passes silently."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def scan(load_script):
    return load_script("security_scan")


def test_security_scan_doctests(scan) -> None:
    result = doctest.testmod(scan)
    assert result.attempted >= 4 and result.failed == 0


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


def test_audit_that_skipped_everything_is_unreachable_not_clean(scan) -> None:
    """pip-audit prints "No known vulnerabilities found" even when it audited nothing."""
    report = {"dependencies": [
        {"name": f"pkg{i}", "skip_reason": f"Dependency not found on PyPI and could not be audited: pkg{i} (1.0)"}
        for i in range(5)
    ] + [{"name": "ok", "version": "1.0", "vulns": []}]}
    outcome = scan.classify(report, set())
    assert outcome.status == "unreachable"
    assert outcome.skipped == 5 and outcome.audited == 1
    assert "5 of 6 packages could not be audited" in outcome.detail


def test_bandit_allowlist_matches_by_test_id_and_path(scan) -> None:
    entries = [{"test_id": "B603", "paths": ["banditops/*.py"], "reason": "x" * 50}]
    assert scan._allowed({"test_id": "B603", "filename": "./banditops/settings.py"}, entries)
    assert scan._allowed({"test_id": "B602", "filename": "banditops/settings.py"}, entries) is None
    assert scan._allowed({"test_id": "B603", "filename": "services/x.py"}, entries) is None
