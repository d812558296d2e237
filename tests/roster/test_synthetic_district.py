"""A whole synthetic district: the SQL rule agrees with a plain-Python reading of the CSV files."""

from __future__ import annotations

import csv
from datetime import date

from schoolpass.roster.authorization import authorized_recipients, born_by_for_age
from schoolpass.roster.importer import import_roster
from schoolpass.roster.summary import roster_summary
from schoolpass.synth.district import write_district


def expected_recipients(roster_dir, on: date) -> set[tuple[str, str]]:
    """The contract's rule, written independently of the SQL, straight from the export."""
    with open(roster_dir / "users.csv", encoding="utf-8", newline="") as f:
        users = {row["sourcedId"]: row for row in csv.DictReader(f)}
    with open(roster_dir / "demographics.csv", encoding="utf-8", newline="") as f:
        births = {row["sourcedId"]: date.fromisoformat(row["birthDate"]) for row in csv.DictReader(f)
                  if row["birthDate"]}
    links: dict[str, set[str]] = {}
    for sid, row in users.items():
        for other in filter(None, row["agentSourcedIds"].split(",")):
            links.setdefault(sid, set()).add(other)
            links.setdefault(other, set()).add(sid)
    adult_by = born_by_for_age(on, 18)
    pairs = set()
    for sid, row in users.items():
        if row["metadata.healthNotices"] == "deny" or row["role"] not in ("student", "teacher", "aide",
                                                                            "administrator", "proctor"):
            continue
        if row["role"] != "student" or (sid in births and births[sid] <= adult_by):
            candidates = {sid}
        else:
            candidates = {c for c in links.get(sid, ()) if users[c]["role"] in ("parent", "guardian")
                          and users[c]["metadata.healthNotices"] != "deny"}
        denied = {users[c]["email"].lower() for c in links.get(sid, ())
                  if users[c]["metadata.healthNotices"] == "deny" and users[c]["email"]}
        pairs |= {(sid, c) for c in candidates if users[c]["email"].lower() not in denied or not users[c]["email"]}
    return pairs


def test_synthetic_district_authorization_matches_the_rule(db, tmp_path):
    stats = write_district(tmp_path / "district", students=1500, seed=3)
    roster = tmp_path / "district" / "roster"
    summary = import_roster(db.engine, roster, date(2021, 8, 16))
    assert summary.changes["users"].added == stats.students + stats.staff + stats.contacts + stats.relatives
    on = date(2021, 11, 22)
    with db.engine.connect() as conn:
        got = {(r.subject_id, r.recipient_id) for r in authorized_recipients(conn, on)}
        counts = roster_summary(conn, on)
    assert got == expected_recipients(roster, on)
    assert counts.by_role["student"] == stats.students
    assert counts.denied_contacts == stats.denied_contacts
    assert counts.students_18_plus == stats.students_18_plus_on_2021_11_22
