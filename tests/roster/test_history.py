"""Roster history: valid time from --as-of, record time from the import, corrections, deltas."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from schoolpass.errors import InputRejected
from schoolpass.roster.authorization import authorized_recipients
from schoolpass.roster.importer import import_roster
from schoolpass.roster.models import PersonVersion
from schoolpass.storage.models import metadata
from tests.roster.exports import read_sample, write_export


def ids(db, subject: str, on: date, known_after: int | None = None) -> list[str]:
    with db.engine.connect() as conn:
        return [r.recipient_id for r in authorized_recipients(conn, on, [subject], known_after)]


def without_link(users, student: str, contact: str):
    out = []
    for row in users:
        row = dict(row)
        if row["sourcedId"] in (student, contact):
            other = contact if row["sourcedId"] == student else student
            row["agentSourcedIds"] = ",".join(a for a in row["agentSourcedIds"].split(",") if a and a != other)
        out.append(row)
    return out


def row_counts(db) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in metadata.sorted_tables}


def test_backdated_correction_ends_a_link_from_its_own_date(db, tmp_path):
    full = read_sample("users.csv")
    import_roster(db.engine, write_export(tmp_path / "nov1", users=full), date(2021, 11, 1))
    second = import_roster(db.engine, write_export(tmp_path / "dec1", users=full), date(2021, 12, 1))
    # Recorded later, true from Nov 15: p-1 should never have been linked to s-2 from then on.
    third = import_roster(db.engine, write_export(tmp_path / "fix", users=without_link(full, "s-2", "p-1")),
                          date(2021, 11, 15))
    assert third.changes["users"].changed == 2
    assert ids(db, "s-2", date(2021, 11, 10)) == ["p-1"]
    assert ids(db, "s-2", date(2021, 11, 15)) == []
    assert ids(db, "s-2", date(2021, 11, 30)) == []
    assert ids(db, "s-2", date(2021, 12, 1)) == ["p-1"]  # the Dec 1 snapshot still governs from Dec 1
    # As we knew it before the correction, p-1 was authorized on Nov 20.
    assert ids(db, "s-2", date(2021, 11, 20), known_after=second.import_id) == ["p-1"]
    assert ids(db, "s-2", date(2021, 11, 20), known_after=third.import_id) == []


def test_correction_earlier_than_every_import(db, tmp_path):
    full = read_sample("users.csv")
    import_roster(db.engine, write_export(tmp_path / "a", users=full), date(2021, 11, 1))
    import_roster(db.engine, write_export(tmp_path / "b", users=without_link(full, "s-1", "p-1")),
                  date(2021, 10, 1))
    # The Oct 1 snapshot governs until the Nov 1 snapshot already recorded.
    assert ids(db, "s-1", date(2021, 10, 15)) == []
    assert ids(db, "s-1", date(2021, 11, 1)) == ["p-1"]


def test_reimport_of_the_same_snapshot_changes_nothing(db, tmp_path):
    export = write_export(tmp_path / "x")
    import_roster(db.engine, export, date(2021, 11, 1))
    before = row_counts(db)
    again = import_roster(db.engine, export, date(2021, 11, 1))
    assert again.already_imported
    assert row_counts(db) == before


def test_same_snapshot_after_a_delta_reasserts_itself(db, tmp_path):
    snapshot = write_export(tmp_path / "bulk")
    import_roster(db.engine, snapshot, date(2021, 11, 1))
    p4 = next(r for r in read_sample("users.csv") if r["sourcedId"] == "p-4")
    delta = write_export(tmp_path / "delta", users=[dict(p4, status="tobedeleted")],
                         modes={"orgs": "absent", "demographics": "absent", "users": "delta"})
    import_roster(db.engine, delta, date(2021, 11, 1))
    assert ids(db, "s-4", date(2021, 11, 2)) == []
    again = import_roster(db.engine, snapshot, date(2021, 11, 1))
    assert not again.already_imported
    assert ids(db, "s-4", date(2021, 11, 2)) == ["p-4"]


def test_same_content_on_a_later_day_adds_no_versions(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "a"), date(2021, 11, 1))
    before = row_counts(db)
    later = import_roster(db.engine, write_export(tmp_path / "b"), date(2021, 11, 2))
    assert {name: c.added + c.changed + c.ended for name, c in later.changes.items()} == {
        "orgs": 0, "users": 0, "demographics": 0}
    after = row_counts(db)
    assert after["person_versions"] == before["person_versions"]
    assert after["roster_imports"] == before["roster_imports"] + 1


def test_email_change_is_dated(db, tmp_path):
    users = read_sample("users.csv")
    import_roster(db.engine, write_export(tmp_path / "a", users=users), date(2021, 11, 1))
    for row in users:
        if row["sourcedId"] == "p-4":
            row["email"] = "grace.new@example.net"
    import_roster(db.engine, write_export(tmp_path / "b", users=users), date(2021, 11, 20))
    with db.engine.connect() as conn:
        before = [r.address for r in authorized_recipients(conn, date(2021, 11, 19), ["s-4"])]
        after = [r.address for r in authorized_recipients(conn, date(2021, 11, 20), ["s-4"])]
    assert before == ["grace.okafor@example.net"]
    assert after == ["grace.new@example.net"]


def test_delta_ends_a_contact_and_leaves_others_untouched(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "bulk"), date(2021, 11, 1))
    p1 = next(r for r in read_sample("users.csv") if r["sourcedId"] == "p-1")
    delta = write_export(tmp_path / "delta", users=[dict(p1, status="tobedeleted")],
                         modes={"orgs": "absent", "demographics": "absent", "users": "delta"})
    summary = import_roster(db.engine, delta, date(2021, 11, 10))
    assert summary.changes["users"].ended == 1
    assert ids(db, "s-1", date(2021, 11, 9)) == ["p-1"]
    assert ids(db, "s-1", date(2021, 11, 10)) == []
    assert ids(db, "s-4", date(2021, 11, 10)) == ["p-4"]


def test_backdated_bulk_stops_at_a_later_delta(db, tmp_path):
    users = read_sample("users.csv")
    import_roster(db.engine, write_export(tmp_path / "bulk", users=users), date(2021, 11, 1))
    p4 = next(r for r in users if r["sourcedId"] == "p-4")
    delta = write_export(tmp_path / "delta", users=[dict(p4, email="grace.delta@example.net")],
                         modes={"orgs": "absent", "demographics": "absent", "users": "delta"})
    import_roster(db.engine, delta, date(2021, 11, 20))
    # A correction recorded afterwards but true from Nov 10 drops p-4 entirely ...
    dropped = [dict(u, agentSourcedIds="p-5") if u["sourcedId"] == "s-4" else u
               for u in users if u["sourcedId"] != "p-4"]
    import_roster(db.engine, write_export(tmp_path / "fix", users=dropped), date(2021, 11, 10))
    assert ids(db, "s-4", date(2021, 11, 15)) == []
    # ... but the delta of Nov 20 named p-4 and still governs from then on.
    with db.engine.connect() as conn:
        later = [r.address for r in authorized_recipients(conn, date(2021, 11, 20), ["s-4"])]
    assert later == ["grace.delta@example.net"]


def test_history_of_versions_is_kept(db, tmp_path):
    full = read_sample("users.csv")
    import_roster(db.engine, write_export(tmp_path / "a", users=full), date(2021, 11, 1))
    import_roster(db.engine, write_export(tmp_path / "b", users=without_link(full, "s-2", "p-1")),
                  date(2021, 11, 15))
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(PersonVersion.valid_from, PersonVersion.valid_to, PersonVersion.rec_from, PersonVersion.rec_to)
            .where(PersonVersion.sourced_id == "s-2").order_by(PersonVersion.id)).all()
    assert [tuple(r) for r in rows] == [
        (date(2021, 11, 1), None, 1, 2),  # what import 1 said, superseded by import 2
        (date(2021, 11, 1), date(2021, 11, 15), 2, None),  # still true before Nov 15
        (date(2021, 11, 15), None, 2, None),  # the new record from Nov 15
    ]


# ---- a model check: for each contact, the latest assertion by as-of date governs ---------------

START = date(2021, 11, 1)
CONTACTS = ["p-1", "p-4"]  # parents of minors s-2 and s-4
STUDENT_OF = {"p-1": "s-2", "p-4": "s-4"}

snapshot = st.tuples(st.just("bulk"), st.integers(0, 6), st.frozensets(st.sampled_from(CONTACTS)))
delta = st.tuples(st.just("delta"), st.integers(0, 6), st.tuples(st.sampled_from(CONTACTS), st.booleans()))


def _users_for(present: set[str]) -> list[dict[str, str]]:
    rows = []
    for row in read_sample("users.csv"):
        sid = row["sourcedId"]
        if sid in CONTACTS and sid not in present:
            continue
        row = dict(row)
        if row["role"] == "student":  # links to the varying contacts are listed on their side only
            row["agentSourcedIds"] = ",".join(a for a in row["agentSourcedIds"].split(",") if a not in CONTACTS)
        rows.append(row)
    return rows


def _bulk_by(imported: list[tuple[str, int]], day: int) -> bool:
    """Whether a bulk snapshot (which always carries the students) governs `day`."""
    return any(mode == "bulk" and d <= day for mode, d in imported)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(snapshot, delta), min_size=1, max_size=6))
def test_latest_assertion_governs(db, tmp_path_factory, steps):
    db.reset()
    folder = tmp_path_factory.mktemp("steps")
    assertions: dict[str, list[tuple[int, int, bool]]] = {c: [] for c in CONTACTS}  # (day, order, present)
    imported: list[tuple[str, int]] = []
    for order, (mode, day, what) in enumerate(steps):
        if mode == "bulk":
            export = write_export(folder / str(order), users=_users_for(set(what)))
            named = {contact: contact in what for contact in CONTACTS}
        else:
            contact, present = what
            row = next(r for r in read_sample("users.csv") if r["sourcedId"] == contact)
            export = write_export(folder / str(order), users=[dict(row, status="" if present else "tobedeleted")],
                                  modes={"orgs": "absent", "demographics": "absent", "users": "delta"})
            named = {contact: present}
            if present and not _bulk_by(imported, day):
                # The contact's row links a student who does not exist on that day: refused as a whole.
                with pytest.raises(InputRejected):
                    import_roster(db.engine, export, START + timedelta(days=day))
                continue
        import_roster(db.engine, export, START + timedelta(days=day))
        imported.append((mode, day))
        for contact, present in named.items():
            assertions[contact].append((day, order, present))
    for day in range(-1, 8):
        on = START + timedelta(days=day)
        for contact in CONTACTS:
            governing = [a for a in assertions[contact] if a[0] <= day]
            expected = bool(governing) and max(governing)[2] and _bulk_by(imported, day)
            assert (contact in ids(db, STUDENT_OF[contact], on)) == expected, (day, contact, steps)
