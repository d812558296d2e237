"""A district's first import goes straight into the empty history: the same history, counts and
refusals as the import through staging."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text

from schoolpass.errors import InputRejected
from schoolpass.roster import first_import, importer
from schoolpass.roster.importer import import_roster
from schoolpass.storage.models import metadata
from schoolpass.synth.district import write_district
from tests.roster.exports import read_sample, write_export

HISTORY = {
    "org_versions": "sourced_id, valid_from, valid_to, rec_to, payload_hash, name, type, identifier, "
                    "parent_sourced_id",
    "person_versions": "sourced_id, valid_from, valid_to, rec_to, payload_hash, kind, role, contact_role, "
                       "given_name, family_name, identifier, email, health_notices, language, active_from, "
                       "active_until, given_key, family_key",
    "birth_date_versions": "sourced_id, valid_from, valid_to, rec_to, payload_hash, birth_date",
    "person_schools": "person_sourced_id, payload_hash, org_sourced_id",
    "person_agents": "person_sourced_id, payload_hash, agent_sourced_id",
}


def history(db) -> dict[str, list[tuple]]:
    with db.engine.connect() as conn:
        return {table: sorted(tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM {table}")))
                for table, columns in HISTORY.items()}


def row_counts(db) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in metadata.sorted_tables}


class _NoStaging:
    def __init__(self, conn):
        raise AssertionError("a clean first import must not stage")


def direct(db, export, as_of, monkeypatch):
    """Import as a first import must: never through staging."""
    with monkeypatch.context() as patch:
        patch.setattr(importer, "Staging", _NoStaging)
        return import_roster(db.engine, export, as_of)


def staged(db, export, as_of, monkeypatch):
    """Import through staging, as every later import does."""
    with monkeypatch.context() as patch:
        patch.setattr(first_import, "applies", lambda modes: False)
        return import_roster(db.engine, export, as_of)


def users_with(sourced_id: str, **changes: str) -> list[dict[str, str]]:
    return [dict(row, **changes) if row["sourcedId"] == sourced_id else row for row in read_sample("users.csv")]


def _ended_records(tmp_path):
    """Records the export lists as ended: never added, counted as staging counts them."""
    users = users_with("t-1", status="tobedeleted")
    users.append(dict(users[0], sourcedId="s-gone", status="tobedeleted"))
    orgs = read_sample("orgs.csv") + [dict(read_sample("orgs.csv")[1], sourcedId="sch-old", status="tobedeleted")]
    births = [dict(row, status="tobedeleted") if row["sourcedId"] == "t-1" else row
              for row in read_sample("demographics.csv")]
    births.append(dict(births[0], sourcedId="s-gone", status="tobedeleted"))
    return write_export(tmp_path, users=users, orgs=orgs, demographics=births)


def _version_12(tmp_path):
    """OneRoster 1.2: roles and their dates; t-1 holds two roles at sch-2 (one link)."""
    users = [dict(row, role="") for row in read_sample("users.csv")]
    roles = [{"sourcedId": f"r-{n}", "userSourcedId": row["sourcedId"], "roleType": "primary", "role": row["role"],
              "orgSourcedId": row["orgSourcedIds"].split(",")[0],
              "endDate": "2021-11-30" if row["sourcedId"] == "p-4" else ""}
             for n, row in enumerate(read_sample("users.csv"))]
    roles += [{"sourcedId": "r-x", "userSourcedId": "t-1", "roleType": "secondary", "role": "parent",
               "orgSourcedId": "sch-1"},
              {"sourcedId": "r-y", "userSourcedId": "t-1", "roleType": "secondary", "role": "aide",
               "orgSourcedId": "sch-1"}]
    return write_export(tmp_path, users=users, roles=roles, version="1.2")


def _no_demographics(tmp_path):
    return write_export(tmp_path, modes={"demographics": "absent"})


def _synthetic(tmp_path):
    write_district(tmp_path / "district", students=400, seed=5)
    return tmp_path / "district" / "roster"


@pytest.mark.parametrize("make", [write_export, _ended_records, _version_12, _no_demographics, _synthetic],
                         ids=["sample", "ended-records", "oneroster-1.2", "no-demographics", "synthetic"])
def test_first_import_writes_what_staging_writes(db, tmp_path, monkeypatch, make):
    export = make(tmp_path / "export")
    fast = direct(db, export, date(2021, 8, 16), monkeypatch)
    got, counts = history(db), row_counts(db)
    db.reset()
    slow = staged(db, export, date(2021, 8, 16), monkeypatch)
    assert got == history(db)
    assert counts == row_counts(db)
    assert got["person_versions"] and got["person_schools"] and got["person_agents"]
    assert fast.as_dict() | {"import_id": None} == slow.as_dict() | {"import_id": None}


def test_later_imports_still_compare_with_the_history(db, tmp_path, monkeypatch):
    direct(db, write_export(tmp_path / "first"), date(2021, 8, 16), monkeypatch)
    second = import_roster(db.engine, write_export(tmp_path / "second", users=users_with("p-1", email="")),
                           date(2021, 9, 1))
    assert second.changes["users"].as_dict() == {"added": 0, "changed": 1, "ended": 0, "unchanged": 9}


def _journals_at_loads(monkeypatch) -> list[str]:
    """The SQLite journal mode at each import's load (a first import's, or staging's), in order."""
    seen: list[str] = []

    def recording(original):
        def record(self, *args, **kwargs):
            seen.append(self.conn.exec_driver_sql("PRAGMA journal_mode").scalar())
            return original(self, *args, **kwargs)
        return record

    for target, name in ((first_import.DirectLoad, "finish"), (importer.Staging, "index")):
        monkeypatch.setattr(target, name, recording(getattr(target, name)))
    return seen


def _journal_now(db) -> str:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA journal_mode").scalar()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_first_import_loads_through_the_rollback_journal_then_wal_again(db, tmp_path, monkeypatch):
    seen = _journals_at_loads(monkeypatch)
    import_roster(db.engine, write_export(tmp_path / "first"), date(2021, 8, 16))
    # A later import changes a history others may be reading: it keeps the WAL.
    import_roster(db.engine, write_export(tmp_path / "second", users=users_with("p-1", email="")), date(2021, 9, 1))
    assert seen == ["delete", "wal"]
    assert _journal_now(db) == "wal"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_refused_first_import_leaves_the_database_in_wal(db, tmp_path, monkeypatch):
    seen = _journals_at_loads(monkeypatch)
    export = write_export(tmp_path / "x", users=users_with("s-2", orgSourcedIds="sch-9"))
    with pytest.raises(InputRejected):
        import_roster(db.engine, export, date(2021, 8, 16))
    assert seen == ["delete", "wal"]  # tried directly, then named through staging
    assert _journal_now(db) == "wal"
    assert row_counts(db)["person_versions"] == 0


def test_a_delta_first_import_goes_through_staging(db, tmp_path, monkeypatch):
    export = write_export(tmp_path / "x", modes={"users": "delta"})
    with pytest.raises(AssertionError, match="must not stage"):
        direct(db, export, date(2021, 8, 16), monkeypatch)


# Each export breaks one check across files; a first import names the same lines as staging.
BAD = {
    "dangling-org": lambda: {"users": users_with("s-2", orgSourcedIds="sch-9")},
    "dangling-agent": lambda: {"users": users_with("s-4", agentSourcedIds="p-4,p-99")},
    "agent-ended": lambda: {"users": users_with("p-5", status="tobedeleted")},
    "user-twice": lambda: {"users": read_sample("users.csv") + [read_sample("users.csv")[2]]},
    "user-twice-once-ended": lambda: {
        "users": read_sample("users.csv") + [dict(read_sample("users.csv")[9], status="tobedeleted")]},
    "ended-twice": lambda: {"users": read_sample("users.csv") + [dict(read_sample("users.csv")[9], sourcedId="x-1",
                                                                      status="tobedeleted")] * 2},
    "org-twice": lambda: {"orgs": read_sample("orgs.csv") + [read_sample("orgs.csv")[1]]},
    "parent-org-missing": lambda: {"orgs": [dict(r, parentSourcedId="d-9") if r["sourcedId"] == "d-1" else r
                                            for r in read_sample("orgs.csv")]},
    "birth-date-of-no-user": lambda: {"demographics": read_sample("demographics.csv") + [
        dict(read_sample("demographics.csv")[0], sourcedId="s-99")]},
    "birth-date-twice": lambda: {"demographics": read_sample("demographics.csv") + [
        read_sample("demographics.csv")[1]]},
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_first_import_not_clean_across_files_is_refused_by_line(db, tmp_path, monkeypatch, name):
    export = write_export(tmp_path / "x", **BAD[name]())
    before = row_counts(db)
    with pytest.raises(InputRejected) as first:
        import_roster(db.engine, export, date(2021, 8, 16))
    assert row_counts(db) == before, "a refused import must write nothing"
    with pytest.raises(InputRejected) as through_staging:
        staged(db, export, date(2021, 8, 16), monkeypatch)
    assert first.value.problems and [str(p) for p in first.value.problems] == [
        str(p) for p in through_staging.value.problems]
