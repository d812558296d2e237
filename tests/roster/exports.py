"""Writing small OneRoster exports for tests, starting from the shared sample roster."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

# shared/ lies beside the repository (in CI too, beside the fresh clone).
SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "samples" / "oneroster-1.1"

USERS_11 = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username", "userIds",
            "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds",
            "grades", "password", "metadata.healthNotices", "metadata.language"]
USERS_12 = ["sourcedId", "status", "dateLastModified", "enabledUser", "username", "userIds", "givenName",
            "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades",
            "password", "userMasterIdentifier", "preferredGivenName", "preferredMiddleName", "preferredFamilyName",
            "primaryOrgSourcedId", "pronouns", "metadata.healthNotices", "metadata.language"]
ROLES_12 = ["sourcedId", "status", "dateLastModified", "userSourcedId", "roleType", "role", "beginDate", "endDate",
            "orgSourcedId", "userProfileSourcedId"]
ORGS = ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"]
DEMOGRAPHICS = ["sourcedId", "status", "dateLastModified", "birthDate", "sex"]


def read_sample(name: str) -> list[dict[str, str]]:
    with open(SAMPLE / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in header})


def write_export(
    path: Path,
    *,
    users: list[dict[str, str]] | None = None,
    orgs: list[dict[str, str]] | None = None,
    demographics: list[dict[str, str]] | None = None,
    roles: list[dict[str, str]] | None = None,
    version: str = "1.1",
    modes: dict[str, str] | None = None,
) -> Path:
    """An export folder; files given as None are written from the sample (or absent per `modes`)."""
    path.mkdir(parents=True, exist_ok=True)
    modes = {"orgs": "bulk", "users": "bulk", "demographics": "bulk", **(modes or {})}
    if version == "1.2":
        modes.setdefault("roles", modes["users"])
    rows = {
        "orgs": orgs if orgs is not None else read_sample("orgs.csv"),
        "users": users if users is not None else read_sample("users.csv"),
        "demographics": demographics if demographics is not None else read_sample("demographics.csv"),
        "roles": roles or [],
    }
    headers = {"orgs": ORGS, "users": USERS_12 if version == "1.2" else USERS_11, "demographics": DEMOGRAPHICS,
               "roles": ROLES_12}
    for entity, mode in modes.items():
        if mode != "absent":
            _write(path / f"{entity}.csv", headers[entity], rows[entity])
    manifest = [("manifest.version", "1.0"), ("oneroster.version", version)]
    manifest += [(f"file.{entity}", mode) for entity, mode in modes.items()]
    manifest += [("source.systemName", "Test SIS")]
    with open(path / "manifest.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["propertyName", "value"])
        writer.writerows(manifest)
    return path


def copy_sample(path: Path) -> Path:
    shutil.copytree(SAMPLE, path)
    return path
