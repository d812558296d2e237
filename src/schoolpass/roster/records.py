"""Reading OneRoster CSV rows into roster records, checking each row as it streams by.

Each reader yields plain tuples ready for staging and appends one `Problem` per bad
row (`file:line: what`). Messages name columns and ids, never names, emails or dates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from schoolpass.csvrows import read_rows
from schoolpass.errors import Problem
from schoolpass.roster.export import FILES, Export
from schoolpass.roster.names import fold_name

STUDENT_ROLES = {"student"}
CONTACT_ROLES = {"parent", "guardian", "relative"}
# Every other OneRoster 1.1 / 1.2 role is staff.
STAFF_ROLES = {
    "administrator", "aide", "proctor", "teacher",  # 1.1
    "counselor", "districtAdministrator", "principal", "siteAdministrator", "systemAdministrator",  # 1.2
}
_CANONICAL_ROLE = {r.lower(): r for r in STUDENT_ROLES | CONTACT_ROLES | STAFF_ROLES}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_EMAIL = re.compile(r"^[^@\s,;<>\"()\[\]]+@[^@\s,;<>\"()\[\]]+\.[^@\s,;<>\"()\[\]]+$")


def payload_hash(*parts: str | None) -> str:
    """A stable fingerprint of one record's content (text fields): same content, same hash."""
    return hashlib.blake2b("\x1f".join([p or "" for p in parts]).encode(), digest_size=16).hexdigest()


def split_ids(value: str) -> list[str]:
    if "," not in value:  # most users name one org and one or two agents: no set, no sort
        value = value.strip()
        return [value] if value else []
    return sorted({part.strip() for part in value.split(",") if part.strip()})


@lru_cache(maxsize=1024)
def role_kind(role: str) -> tuple[str, str | None] | None:
    """(kind, canonical role) for a OneRoster role; None when the role is unknown."""
    if role.startswith("ext:") and len(role) > 4:
        return "ext", role
    canonical = _CANONICAL_ROLE.get(role.lower())
    if canonical is None:
        return None
    if canonical in STUDENT_ROLES:
        return "student", canonical
    if canonical in CONTACT_ROLES:
        return "contact", canonical
    return "staff", canonical


@dataclass
class Findings:
    """Problems refuse the import; warnings are reported and the import goes on."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


class _Csv:
    """A CSV file's rows with its header mapped, line numbers of where each record starts."""

    def __init__(self, export: Export, name: str, required: list[str], findings: Findings):
        self.export = export
        self.name = name
        self.label = export.file_label(name)
        self.required = required
        self.findings = findings

    def rows(self, optional: list[str]) -> Iterator[tuple[int, list[str]]]:
        """(line, values) of the required then the optional columns (see schoolpass.csvrows)."""
        with self.export.open_text(self.name) as text:
            yield from read_rows(text, self.required, optional, self.problem)

    def problem(self, line: int, what: str) -> None:
        self.findings.problems.append(Problem(self.label, line, what))

    def warning(self, line: int, what: str) -> None:
        self.findings.warnings.append(Problem(self.label, line, what))

    def status_deleted(self, line: int, status: str) -> bool | None:
        """False for an active record, True for one ending here, None (with a problem) otherwise."""
        lowered = status.lower()
        if lowered in ("", "active"):
            return False
        if lowered in ("tobedeleted", "inactive"):
            return True
        self.problem(line, "status must be active or tobedeleted")
        return None

    def date(self, line: int, column: str, value: str) -> str | None | bool:
        """ISO date text, None when empty, False (with a problem) when not a date."""
        if not value:
            return None
        text = value[:10] if len(value) > 10 and value[10] in "T " else value
        if _DATE.match(text):
            try:
                dt.date.fromisoformat(text)
                return text
            except ValueError:
                pass
        self.problem(line, f"{column} is not a valid YYYY-MM-DD date")
        return False


# Staged row shapes (the importer's staging tables use the same column order).
ORG_COLUMNS = ("name", "type", "identifier", "parent_sourced_id")
PERSON_COLUMNS = (
    "kind", "role", "contact_role", "given_name", "family_name", "identifier", "email",
    "health_notices", "language", "active_from", "active_until", "given_key", "family_key",
)
BIRTH_DATE_COLUMNS = ("birth_date",)


def read_orgs(export: Export, findings: Findings) -> Iterator[tuple]:
    """(line, sourced_id, deleted, hash, name, type, identifier, parent_sourced_id)."""
    source = _Csv(export, FILES["orgs"], ["sourcedId", "status", "name", "type"], findings)
    for line, (sourced_id, status, name, org_type, identifier, parent) in source.rows(
            ["identifier", "parentSourcedId"]):
        if not sourced_id:
            source.problem(line, "sourcedId is empty")
            continue
        deleted = source.status_deleted(line, status)
        if deleted is None:
            continue
        identifier, parent = identifier or None, parent or None
        if not deleted and not org_type:
            source.problem(line, "type is empty")
            continue
        yield (line, sourced_id, int(deleted), payload_hash(name, org_type, identifier, parent),
               name, org_type, identifier, parent)


def read_birth_dates(export: Export, findings: Findings) -> Iterator[tuple]:
    """(line, sourced_id, deleted, hash, birth_date)."""
    source = _Csv(export, FILES["demographics"], ["sourcedId", "status", "birthDate"], findings)
    known: dict[str, tuple[str, str]] = {}  # a good birth date's text -> (date, hash): a district has few
    for line, (sourced_id, status, birth) in source.rows([]):
        if not sourced_id:
            source.problem(line, "sourcedId is empty")
            continue
        deleted = False if not status else source.status_deleted(line, status)
        checked = known.get(birth)
        if checked is None:
            birth_date = source.date(line, "birthDate", birth)
            if birth_date is False:
                continue
            checked = (birth_date, payload_hash(birth_date))
            if len(known) < 100_000:
                known[birth] = checked
        if deleted is None:
            continue
        yield line, sourced_id, int(deleted), checked[1], checked[0]


@dataclass
class _Role:
    line: int
    primary: bool
    kind: str
    role: str
    org: str
    begin: str | None
    end: str | None


def _read_roles(export: Export, findings: Findings) -> dict[str, list[_Role]]:
    """OneRoster 1.2 roles.csv, by user; tobedeleted roles are dropped."""
    source = _Csv(export, FILES["roles"], ["sourcedId", "status", "userSourcedId", "roleType", "role", "orgSourcedId"],
                  findings)
    roles: dict[str, list[_Role]] = {}
    for line, (_, status, user, role_type, role, org, begin_text, end_text) in source.rows(["beginDate", "endDate"]):
        deleted = source.status_deleted(line, status)
        role_type = role_type.lower()
        begin = source.date(line, "beginDate", begin_text)
        end = source.date(line, "endDate", end_text)
        known = role_kind(role)
        bad = deleted is None or begin is False or end is False
        if not user:
            source.problem(line, "userSourcedId is empty")
            bad = True
        if role_type not in ("primary", "secondary"):
            source.problem(line, "roleType must be primary or secondary")
            bad = True
        if known is None:
            source.problem(line, f"unknown role {role!r}" if role else "role is empty")
            bad = True
        if not org:
            source.problem(line, "orgSourcedId is empty")
            bad = True
        if bad or deleted:
            continue
        kind, canonical = known
        roles.setdefault(user, []).append(_Role(line, role_type == "primary", kind, canonical, org, begin, end))
    return roles


def read_users(export: Export, findings: Findings) -> Iterator[tuple[tuple, list[tuple], list[tuple]]]:
    """Per user: the person row, its school rows and its agent rows.

    person row: (line, sourced_id, deleted, hash, *PERSON_COLUMNS)
    school rows: (line, sourced_id, payload_hash, org_sourced_id); agent rows: (line, sourced_id, payload_hash,
    agent_sourced_id): the links the record with that hash holds
    """
    version_12 = export.version == "1.2"
    roles = _read_roles(export, findings) if version_12 else None
    roles_file = export.file_label(FILES["roles"])
    required = ["sourcedId", "status", "givenName", "familyName", "identifier", "email", "agentSourcedIds"]
    if not version_12:
        required += ["orgSourcedIds", "role"]  # 1.2 keeps roles and their orgs in roles.csv
    source = _Csv(export, FILES["users"], required, findings)
    good_languages: set[str] = set()  # tags already checked (a district has a few dozen)
    for line, values in source.rows(["metadata.healthNotices", "metadata.language"]):
        if version_12:
            sourced_id, status, given, family, identifier, email, agents_text, health, language = values
        else:
            (sourced_id, status, given, family, identifier, email, agents_text, orgs_text, role_text,
             health, language) = values
        if not sourced_id:
            source.problem(line, "sourcedId is empty")
            continue
        deleted = False if not status else source.status_deleted(line, status)
        if deleted is None:
            continue
        bad = False
        active_from = active_until = None
        if roles is not None:
            user_roles = roles.pop(sourced_id, [])
            if not user_roles and not deleted:
                source.problem(line, f"user {sourced_id} has no role in roles.csv")
                continue
            primary = next((r for r in user_roles if r.primary), user_roles[0] if user_roles else None)
            kind, role = (primary.kind, primary.role) if primary else ("ext", "ext:none")
            if primary:
                active_from, active_until = primary.begin, primary.end
            contact_role = next((r.role for r in user_roles if r.kind == "contact"), None)
            school_lines = [(r.line, r.org) for r in user_roles]
            school_ids = sorted({r.org for r in user_roles})
        else:
            known = role_kind(role_text)
            if known is None:
                source.problem(line, f"unknown role {role_text!r}" if role_text else "role is empty")
                bad = True
                kind = role = ""
            else:
                kind, role = known
            contact_role = role if kind == "contact" else None
            school_ids = split_ids(orgs_text) if orgs_text else []
            school_lines = [(line, org) for org in school_ids]

        health = health.lower() if health else "allow"
        if health != "allow" and health != "deny":
            source.problem(line, "metadata.healthNotices must be allow or deny")
            bad = True
        language = language or None
        if language is not None and language not in good_languages:
            if _LANGUAGE.match(language):
                good_languages.add(language)
            else:
                source.problem(line, "metadata.language is not a BCP 47 language tag")
                bad = True
        if bad:
            continue
        email = email or None
        if email is not None and not _EMAIL.match(email):
            source.warning(line, "email is not one usable address; no email will be sent to it")
            email = None
        agent_ids = split_ids(agents_text) if agents_text else []
        identifier = identifier or None
        digest = payload_hash(
            kind, role, contact_role, given, family, identifier, email, health, language, active_from, active_until,
            ",".join(school_ids), ",".join(agent_ids),
        )
        person = (line, sourced_id, int(deleted), digest, kind, role, contact_role, given, family, identifier, email,
                  health, language, active_from, active_until, fold_name(given), fold_name(family))
        if deleted:  # an ended record links nobody and belongs to no school
            yield person, [], []
            continue
        yield (person, [(school_line, sourced_id, digest, org) for school_line, org in school_lines],
               [(line, sourced_id, digest, agent) for agent in agent_ids])
    if roles:
        for user, user_roles in roles.items():
            for r in user_roles:
                findings.problems.append(
                    Problem(roles_file, r.line, f"userSourcedId {user} is not in users.csv")
                )


def birth_date_batches(path, size: int = 20000):
    """demographics.csv of the export at `path`, in batches of rows; returns the findings.

    A producer for schoolpass.background.Batches (it may run in another process).
    """
    from schoolpass.roster.export import open_export

    export = open_export(path)
    findings = Findings()
    rows: list[tuple] = []
    try:
        for row in read_birth_dates(export, findings):
            rows.append(row)
            if len(rows) >= size:
                yield rows
                rows = []
        yield rows
    finally:
        export.close()
    return findings


def user_batches(path, size: int = 20000):
    """users.csv of the export at `path`, in batches of (people, schools, agents); returns the findings.

    A producer for schoolpass.background.Batches (it may run in another process).
    """
    from schoolpass.roster.export import open_export

    export = open_export(path)
    findings = Findings()
    people: list[tuple] = []
    schools: list[tuple] = []
    agents: list[tuple] = []
    try:
        for person, person_schools, person_agents in read_users(export, findings):
            people.append(person)
            schools.extend(person_schools)
            agents.extend(person_agents)
            if len(people) >= size:
                yield people, schools, agents
                people, schools, agents = [], [], []
        yield people, schools, agents
    finally:
        export.close()
    return findings
