"""`schoolpass roster ...` as a district's IT person runs it."""

from __future__ import annotations

import json

from tests.cli import run
from tests.roster.exports import read_sample, write_export


def test_import_then_contacts_json(db, tmp_path, capsys):
    export = write_export(tmp_path / "x")
    imported = run(capsys, "roster", "import", export, "--as-of", "2021-01-04", "--db", db.url, "--json")
    assert imported.code == 0, imported.err
    summary = json.loads(imported.out)
    assert summary["changes"]["users"]["added"] == 10
    result = run(capsys, "--db", db.url, "roster", "contacts", "s-3", "--on", "2021-06-29", "--json")
    assert result.code == 0
    assert json.loads(result.out) == [{"id": "p-3", "name": "Linh Nguyen", "address": "linh.nguyen@example.net",
                                       "language": "en", "relation": "parent"}]
    after = run(capsys, "--db", db.url, "roster", "contacts", "s-3", "--on", "2021-06-30", "--json")
    assert [c["relation"] for c in json.loads(after.out)] == ["self"]


def test_contacts_of_a_denied_subject_is_an_empty_list(db, tmp_path, capsys):
    users = read_sample("users.csv")
    for row in users:
        if row["sourcedId"] == "s-1":
            row["metadata.healthNotices"] = "deny"
    run(capsys, "roster", "import", write_export(tmp_path / "x", users=users), "--as-of", "2021-01-04",
        "--db", db.url)
    result = run(capsys, "roster", "contacts", "s-1", "--on", "2021-11-22", "--json", "--db", db.url)
    assert (result.code, json.loads(result.out)) == (0, [])


def test_unknown_person_and_bad_date_are_clear_errors(db, tmp_path, capsys):
    run(capsys, "roster", "import", write_export(tmp_path / "x"), "--db", db.url)
    unknown = run(capsys, "roster", "contacts", "s-404", "--db", db.url)
    assert unknown.code == 1 and unknown.err == "schoolpass: no person with sourcedId s-404 in the roster\n"
    bad = run(capsys, "roster", "contacts", "s-1", "--on", "22/11/2021", "--db", db.url)
    assert bad.code == 1 and bad.err == "schoolpass: --on must be a date as YYYY-MM-DD\n"


def test_summary(db, tmp_path, capsys):
    run(capsys, "roster", "import", write_export(tmp_path / "x"), "--as-of", "2021-01-04", "--db", db.url)
    result = run(capsys, "roster", "summary", "--on", "2021-11-22", "--json", "--db", db.url)
    data = json.loads(result.out)
    assert data["by_role"] == {"guardian": 1, "parent": 3, "relative": 1, "student": 4, "teacher": 1}
    assert (data["denied_contacts"], data["students_18_plus"], data["linked_contacts"]) == (1, 1, 5)
    assert data["by_school"] == [
        {"id": "sch-1", "name": "Harbor Elementary", "students": 2, "staff": 1},
        {"id": "sch-2", "name": "Vista High School", "students": 2, "staff": 0},
    ]
