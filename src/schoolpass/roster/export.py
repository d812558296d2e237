"""A OneRoster CSV export on disk: a folder or a .zip, its manifest, and its files' text."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from schoolpass.errors import InputRejected, Problem

# The OneRoster files schoolpass reads, by entity.
FILES = {"orgs": "orgs.csv", "users": "users.csv", "roles": "roles.csv", "demographics": "demographics.csv"}
MODES = ("bulk", "delta", "absent")


@dataclass
class Export:
    path: Path
    label: str  # how files are named in error messages
    version: str  # "1.1" or "1.2"
    modes: dict[str, str] = field(default_factory=dict)  # entity -> bulk | delta | absent
    _zip: zipfile.ZipFile | None = None
    _prefix: str = ""

    def file_label(self, name: str) -> str:
        return f"{self.label}/{name}" if self._zip is not None else name

    def exists(self, name: str) -> bool:
        if self._zip is not None:
            return self._prefix + name in self._zip.namelist()
        return (self.path / name).is_file()

    def size(self, name: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(self._prefix + name).file_size
        return (self.path / name).stat().st_size

    @contextmanager
    def open_text(self, name: str) -> Iterator[TextIO]:
        if self._zip is not None:
            with self._zip.open(self._prefix + name) as raw:
                with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
                    yield text
        else:
            with open(self.path / name, encoding="utf-8-sig", newline="") as text:
                yield text

    def sha256(self) -> str:
        """A fingerprint of the files this import reads (same content, same hash, folder or zip)."""
        digest = hashlib.sha256()
        for name in ["manifest.csv", *sorted(self.files_to_read())]:
            digest.update(name.encode())
            if self._zip is not None:
                with self._zip.open(self._prefix + name) as raw:
                    for chunk in iter(lambda: raw.read(1 << 20), b""):
                        digest.update(chunk)
            else:
                with open(self.path / name, "rb") as raw:
                    for chunk in iter(lambda: raw.read(1 << 20), b""):
                        digest.update(chunk)
        return digest.hexdigest()

    def files_to_read(self) -> list[str]:
        return [FILES[e] for e, mode in self.modes.items() if mode != "absent"]

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def open_export(path: Path) -> Export:
    """Open a folder or .zip export and read its manifest; refuses what it cannot use."""
    path = Path(path)
    if not path.exists():
        raise InputRejected([Problem(str(path.name), 0, "no such file or folder")])
    if path.is_dir():
        export = Export(path=path, label=path.name, version="")
    elif zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
        manifests = [n for n in names if n.rsplit("/", 1)[-1] == "manifest.csv" and n.count("/") <= 1]
        prefix = min(manifests, key=len)[: -len("manifest.csv")] if manifests else ""
        export = Export(path=path, label=path.name, version="", _zip=archive, _prefix=prefix)
    else:
        raise InputRejected([Problem(path.name, 0, "not a folder or a .zip file")])
    _read_manifest(export)
    return export


def _read_manifest(export: Export) -> None:
    label = export.file_label("manifest.csv")
    if not export.exists("manifest.csv"):
        raise InputRejected([Problem(label, 0, "manifest.csv is missing; a OneRoster export needs one")])
    problems: list[Problem] = []
    properties: dict[str, tuple[int, str]] = {}
    with export.open_text("manifest.csv") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["propertyName", "value"]:
            raise InputRejected([Problem(label, 1, "header must be propertyName,value")])
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) < 2:
                problems.append(Problem(label, reader.line_num, "expected propertyName,value"))
                continue
            properties[row[0].strip()] = (reader.line_num, row[1].strip())

    line, version = properties.get("oneroster.version", (0, ""))
    if version in ("1.0", "1.1"):
        export.version = "1.1"
    elif version == "1.2":
        export.version = "1.2"
    else:
        problems.append(Problem(label, line, "oneroster.version must be 1.1 or 1.2"))

    wanted = ["orgs", "users", "demographics"] + (["roles"] if export.version == "1.2" else [])
    for entity in wanted:
        key = f"file.{entity}"
        line, mode = properties.get(key, (0, "absent"))
        mode = mode.lower()
        if mode not in MODES:
            problems.append(Problem(label, line, f"{key} must be bulk, delta or absent"))
            continue
        if mode != "absent" and not export.exists(FILES[entity]):
            problems.append(Problem(label, line, f"{key} is {mode} but {FILES[entity]} is missing"))
        export.modes[entity] = mode
    if export.version == "1.2" and not problems:
        users, roles = export.modes["users"], export.modes["roles"]
        if users != "absent" and roles == "absent":
            line = properties.get("file.roles", (0, ""))[0]
            problems.append(Problem(label, line, "file.roles is absent: OneRoster 1.2 users need roles.csv"))
        elif roles != "absent" and users == "absent":
            line = properties.get("file.users", (0, ""))[0]
            problems.append(Problem(label, line, "file.users is absent: roles.csv needs the users it names"))
        elif roles != users:
            line = properties.get("file.roles", (0, ""))[0]
            problems.append(Problem(label, line, "file.roles must have the same mode as file.users"))
    if problems:
        raise InputRejected(problems)
