"""Offline matching of pinned PyPI packages against OSV advisories (the PyPA advisory database).

pip-audit only queries OSV's web API (``--osv-url`` is a URL, not a directory) and no well-kept
PyPI library evaluates local OSV records, so this module does only that evaluation, following the
OSV schema's range algorithm (https://ossf.github.io/osv-schema/#evaluation): a version is affected
if it is listed in ``versions``, or if, walking a range's ECOSYSTEM events in version order, the
last event it has reached is ``introduced`` (``fixed`` ends a range at that version,
``last_affected`` just after it). Versions compare with :mod:`packaging.version` (PEP 440) and
names with PEP 503 normalisation.

>>> record = {"id": "X-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "Foo_Bar"},
...     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"}]}]}]}
>>> [is_affected(record, "foo-bar", v) for v in ("1.1", "1.2", "2.0")]
[True, False, False]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

try:  # the C loader reads the ~2,700 records several times faster
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Finding:
    """One advisory that applies to one locked package."""

    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]
    summary: str


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _in_range(events: list[Mapping[str, str]], version: Version) -> bool:
    """The OSV evaluation of one ECOSYSTEM range: the last event reached decides."""
    parsed = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in event:
                at = Version("0") if event[kind] == "0" else _version(event[kind])
                if at is not None:
                    parsed.append((at, kind))
    affected = False
    # at one version, "introduced" sorts before "fixed" so that [introduced X, fixed X] is empty
    for at, kind in sorted(parsed, key=lambda e: (e[0], e[1] != "introduced")):
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def _entries(record: Mapping[str, Any], name: str) -> Iterator[Mapping[str, Any]]:
    for entry in record.get("affected", []):
        package = entry.get("package", {})
        if package.get("ecosystem") == "PyPI" and canonicalize_name(package.get("name", "")) == name:
            yield entry


def is_affected(record: Mapping[str, Any], name: str, version: str) -> bool:
    """Whether ``name==version`` (name already normalised) is affected by the OSV ``record``."""
    if record.get("withdrawn"):
        return False
    parsed = _version(version)
    for entry in _entries(record, canonicalize_name(name)):
        if version in entry.get("versions", []):
            return True
        if parsed is None:
            continue
        for rng in entry.get("ranges", []):
            if rng.get("type") == "ECOSYSTEM" and _in_range(rng.get("events", []), parsed):
                return True
    return False


def fix_versions(record: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """The ``fixed`` versions the record names for ``name``, in version order."""
    fixed = {
        event["fixed"]
        for entry in _entries(record, canonicalize_name(name))
        for rng in entry.get("ranges", [])
        if rng.get("type") == "ECOSYSTEM"
        for event in rng.get("events", [])
        if "fixed" in event
    }
    return tuple(sorted(fixed, key=lambda v: _version(v) or Version("0")))


def load_records(db: Path, names: set[str]) -> Iterator[dict[str, Any]]:
    """The records under ``db`` (a ``vulns/<package>/*.yaml|json`` tree) for the normalised ``names``."""
    vulns = db / "vulns" if (db / "vulns").is_dir() else db
    for folder in sorted(vulns.iterdir()):
        if not folder.is_dir() or canonicalize_name(folder.name) not in names:
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yaml", ".yml", ".json"):  # JSON is a subset of YAML
                yield yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - CSafeLoader/SafeLoader


def audit(db: Path, pins: Mapping[str, str]) -> list[Finding]:
    """Every advisory in ``db`` that affects one of the pinned ``name -> version`` packages."""
    wanted = {canonicalize_name(name): version for name, version in pins.items()}
    findings = []
    for record in load_records(db, set(wanted)):
        for name, version in wanted.items():
            if is_affected(record, name, version):
                findings.append(Finding(
                    package=name, version=version, id=record["id"],
                    aliases=tuple(record.get("aliases", [])), fix_versions=fix_versions(record, name),
                    summary=str(record.get("summary") or record.get("details", "")).split("\n")[0][:120],
                ))
    return findings
