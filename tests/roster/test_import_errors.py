"""A bad export is refused as a whole: every problem as `file:line: what`, nothing written."""

from __future__ import annotations

import zipfile
from datetime import date

import pytest
from sqlalchemy import func, select

from schoolpass.errors import InputRejected
from schoolpass.roster.importer import import_roster
from schoolpass.storage.models import metadata
from tests.cli import run
from tests.roster.exports import read_sample, write_export


def row_counts(db) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in metadata.sorted_tables}


def users_with(sourced_id: str, **changes: str) -> list[dict[str, str]]:
    return [dict(row, **changes) if row["sourcedId"] == sourced_id else row for row in read_sample("users.csv")]


def refused(db, export, as_of=date(2021, 11, 1)) -> list[str]:
    before = row_counts(db)
    with pytest.raises(InputRejected) as caught:
        import_roster(db.engine, export, as_of)
    assert row_counts(db) == before, "a refused import must write nothing"
    return [str(p) for p in caught.value.problems]


@pytest.fixture
def loaded(db, tmp_path):
    """A database that already holds the sample roster (a refused import must leave it as it was)."""
    import_roster(db.engine, write_export(tmp_path / "good"), date(2021, 10, 1))
    return db


def test_missing_column(loaded, tmp_path):
    export = write_export(tmp_path / "x")
    text = (export / "users.csv").read_text(encoding="utf-8").replace("agentSourcedIds", "agents", 1)
    (export / "users.csv").write_text(text, encoding="utf-8")
    assert refused(loaded, export) == ["users.csv:1: missing column agentSourcedIds"]


def test_unknown_role(loaded, tmp_path):
    export = write_export(tmp_path / "x", users=users_with("p-5", role="uncle"))
    assert refused(loaded, export) == ["users.csv:10: unknown role 'uncle'"]


def test_dangling_org_reference(loaded, tmp_path):
    export = write_export(tmp_path / "x", users=users_with("s-2", orgSourcedIds="sch-9"))
    assert refused(loaded, export) == ["users.csv:3: orgSourcedIds names org sch-9, which is not in the roster"]


def test_dangling_agent_reference(loaded, tmp_path):
    export = write_export(tmp_path / "x", users=users_with("s-4", agentSourcedIds="p-4,p-99"))
    assert refused(loaded, export) == ["users.csv:5: agentSourcedIds names user p-99, which is not in the roster"]


def test_dangling_parent_org(loaded, tmp_path):
    orgs = [dict(o, parentSourcedId="d-9") if o["sourcedId"] == "sch-2" else o for o in read_sample("orgs.csv")]
    export = write_export(tmp_path / "x", orgs=orgs)
    assert refused(loaded, export) == ["orgs.csv:4: parentSourcedId names org d-9, which is not in the roster"]


def test_bad_date_does_not_echo_the_value(loaded, tmp_path):
    demographics = [dict(d, birthDate="2013-02-30") if d["sourcedId"] == "s-1" else d
                    for d in read_sample("demographics.csv")]
    export = write_export(tmp_path / "x", demographics=demographics)
    problems = refused(loaded, export)
    assert problems == ["demographics.csv:2: birthDate is not a valid YYYY-MM-DD date"]
    assert "2013" not in problems[0]


def test_duplicate_sourced_id(loaded, tmp_path):
    users = read_sample("users.csv")
    users.append(dict(users[0]))
    export = write_export(tmp_path / "x", users=users)
    assert refused(loaded, export) == ["users.csv:12: sourcedId s-1 appears again (first on line 2)"]


def test_every_problem_is_listed_sorted_by_file_and_line(loaded, tmp_path):
    users = users_with("s-2", role="wizard")
    users = [dict(u, **{"metadata.healthNotices": "maybe"}) if u["sourcedId"] == "p-3" else u for u in users]
    demographics = [dict(d, birthDate="11/17/2013") if d["sourcedId"] == "s-4" else d
                    for d in read_sample("demographics.csv")]
    export = write_export(tmp_path / "x", users=users, demographics=demographics)
    assert refused(loaded, export) == [
        "demographics.csv:5: birthDate is not a valid YYYY-MM-DD date",
        "users.csv:3: unknown role 'wizard'",
        "users.csv:8: metadata.healthNotices must be allow or deny",
    ]


def test_bad_manifest(loaded, tmp_path):
    export = write_export(tmp_path / "x")
    (export / "users.csv").unlink()
    assert refused(loaded, export) == ["manifest.csv:5: file.users is bulk but users.csv is missing"]


def test_missing_manifest(loaded, tmp_path):
    export = write_export(tmp_path / "x")
    (export / "manifest.csv").unlink()
    assert refused(loaded, export) == ["manifest.csv:0: manifest.csv is missing; a OneRoster export needs one"]


def test_multiline_field_reports_the_line_the_record_starts_on(loaded, tmp_path):
    users = users_with("s-2", givenName="Luis\nAlberto")
    users = [dict(u, role="wizard") if u["sourcedId"] == "s-3" else u for u in users]
    export = write_export(tmp_path / "x", users=users)
    assert refused(loaded, export) == ["users.csv:5: unknown role 'wizard'"]


def test_zip_export_errors_name_the_file_inside(loaded, tmp_path):
    export = write_export(tmp_path / "x", users=users_with("p-5", role="uncle"))
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in export.iterdir():
            zf.write(f, f.name)
    assert refused(loaded, archive) == ["export.zip/users.csv:10: unknown role 'uncle'"]


def test_bad_email_is_a_warning_not_a_refusal(db, tmp_path):
    export = write_export(tmp_path / "x", users=users_with("p-4", email="grace@example.net, other@example.net"))
    summary = import_roster(db.engine, export, date(2021, 11, 1))
    assert summary.warnings == ["users.csv:9: email is not one usable address; no email will be sent to it"]


def test_cli_prints_problems_one_per_line_and_exits_non_zero(loaded, tmp_path, capsys):
    export = write_export(tmp_path / "x", users=users_with("s-4", agentSourcedIds="p-4,p-99"))
    result = run(capsys, "roster", "import", export, "--as-of", "2021-11-01", "--db", loaded.url)
    assert result.code == 1
    assert result.err.splitlines()[0] == "users.csv:5: agentSourcedIds names user p-99, which is not in the roster"
    assert "Traceback" not in result.err
    assert "Okafor" not in result.err


def test_file_that_is_not_utf8_is_refused(loaded, tmp_path):
    export = write_export(tmp_path / "x")
    data = (export / "users.csv").read_bytes().replace("María".encode(), "María".encode("latin-1"))
    (export / "users.csv").write_bytes(data)
    assert refused(loaded, export) == ["users.csv:2: not UTF-8 text"]
