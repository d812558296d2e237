"""The shapes an export arrives in: folder or .zip (files at the root or in one folder)."""

from __future__ import annotations

import zipfile
from datetime import date

import pytest

from schoolpass.roster.authorization import authorized_recipients
from schoolpass.roster.importer import import_roster
from tests.roster.exports import write_export


def everyone(db, on=date(2021, 11, 22)):
    with db.engine.connect() as conn:
        return [(r.subject_id, r.recipient_id, r.address) for r in authorized_recipients(conn, on)]


@pytest.mark.parametrize("inside", ["", "export-2021-11-01/"])
def test_zip_imports_like_the_folder(db, tmp_path, inside):
    folder = write_export(tmp_path / "folder")
    import_roster(db.engine, folder, date(2021, 11, 1))
    from_folder = everyone(db)
    db.reset()
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, inside + f.name)
    summary = import_roster(db.engine, archive, date(2021, 11, 1))
    assert summary.changes["users"].added == 10
    assert everyone(db) == from_folder and len(from_folder) == 5


def test_absent_files_keep_what_is_known(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "full"), date(2021, 11, 1))
    before = everyone(db)
    only_orgs = write_export(tmp_path / "orgs-only", modes={"users": "absent", "demographics": "absent"})
    summary = import_roster(db.engine, only_orgs, date(2021, 11, 5))
    assert set(summary.changes) == {"orgs"}
    assert everyone(db) == before


def test_files_present_but_marked_absent_are_ignored(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "full"), date(2021, 11, 1))
    export = write_export(tmp_path / "x", users=[], modes={"users": "absent"})
    (export / "users.csv").write_text("garbage without a header that matters\n", encoding="utf-8")
    import_roster(db.engine, export, date(2021, 11, 5))
    assert len(everyone(db)) == 5


def test_demographics_delta_removes_a_birth_date(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "full"), date(2021, 1, 4))
    delta = write_export(tmp_path / "d", demographics=[{"sourcedId": "s-3", "status": "tobedeleted"}],
                         modes={"orgs": "absent", "users": "absent", "demographics": "delta"})
    import_roster(db.engine, delta, date(2021, 11, 1))
    with db.engine.connect() as conn:
        before = [r.relation for r in authorized_recipients(conn, date(2021, 10, 31), ["s-3"])]
        after = [r.relation for r in authorized_recipients(conn, date(2021, 11, 1), ["s-3"])]
    assert (before, after) == (["self"], ["parent"])  # no birth date on record: treated as a minor


def _in_workers(monkeypatch) -> list[bool]:
    """Read every roster file large enough for a worker (all of them); returns, per reader, whether it was one."""
    from schoolpass import background
    from schoolpass.roster import importer

    started: list[bool] = []
    plain = background.Batches.__init__

    def watched(self, producer, *args, in_background):
        started.append(in_background)
        plain(self, producer, *args, in_background=in_background)

    monkeypatch.setattr(importer, "WORKER_BYTES", 0)
    monkeypatch.setattr(importer.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(background.Batches, "__init__", watched)
    return started


def test_large_users_and_demographics_files_are_read_in_worker_processes(db, tmp_path, monkeypatch):
    import_roster(db.engine, write_export(tmp_path / "small"), date(2021, 11, 1))
    in_process = everyone(db)
    with db.engine.connect() as conn:
        births = conn.exec_driver_sql("SELECT sourced_id, birth_date FROM birth_date_versions ORDER BY 1").all()
    db.reset()
    started = _in_workers(monkeypatch)
    summary = import_roster(db.engine, write_export(tmp_path / "big"), date(2021, 11, 1))
    assert started == [True, True]  # demographics, users
    assert summary.changes["users"].added == 10
    assert everyone(db) == in_process
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT sourced_id, birth_date FROM birth_date_versions ORDER BY 1").all() \
            == births


def test_problems_found_by_the_workers_refuse_the_import_in_file_order(db, tmp_path, monkeypatch):
    from schoolpass.errors import InputRejected
    from tests.roster.exports import read_sample

    started = _in_workers(monkeypatch)
    users = [dict(u, role="wizard") if u["sourcedId"] == "p-5" else u for u in read_sample("users.csv")]
    demographics = read_sample("demographics.csv")
    demographics[1] = dict(demographics[1], birthDate="2011-02-30")
    with pytest.raises(InputRejected) as refused:
        import_roster(db.engine, write_export(tmp_path / "bad", users=users, demographics=demographics),
                      date(2021, 11, 1))
    assert started == [True, True]
    assert [str(p) for p in refused.value.problems] == [
        "demographics.csv:3: birthDate is not a valid YYYY-MM-DD date", "users.csv:10: unknown role 'wizard'"]
