"""Accounting, breach scope and letters on the sample roster, with a real sink and a backdated custody correction."""

from __future__ import annotations

import json
from datetime import date

from tests.cli import run
from tests.notices.district import correct_custody, load_results, load_roster
from tests.notices.sink import running_sink

EVERYONE = ["s-1", "s-2", "s-3", "s-4", "t-1"]


def _sent_day(db, tmp_path, capsys):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [(who, "Not Detected", "11/20/2021") for who in EVERYONE])
    with running_sink(tmp_path) as sink:
        assert run(capsys, "--db", db.url, "daily", "--on", "2021-11-22", "--smtp", sink.url).code == 0


def _scope(db, capsys, first, last) -> dict:
    result = run(capsys, "--db", db.url, "breach-scope", "--from", first, "--to", last, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def _correct_custody(db, tmp_path, as_of=date(2021, 11, 1)):
    """The SIS corrects s-1's record, backdated: p-1 was never hers; a new guardian p-6 is."""
    correct_custody(db.engine, tmp_path, as_of.isoformat())


def test_nothing_unauthorized_when_the_roster_agrees(db, tmp_path, capsys):
    _sent_day(db, tmp_path, capsys)
    result = run(capsys, "--db", db.url, "breach-scope", "--from", "2021-11-01", "--to", "2021-11-30", "--json")
    data = json.loads(result.out)
    assert result.code == 0 and data["examined"] == 5
    assert data["unauthorized"] == [] and data["affected_subjects"] == [] and data["wrong_recipients"] == []


def test_a_backdated_custody_correction_makes_an_earlier_send_unauthorized(db, tmp_path, capsys):
    _sent_day(db, tmp_path, capsys)
    _correct_custody(db, tmp_path)
    data = _scope(db, capsys, "2021-11-22", "2021-11-22")
    assert data["examined"] == 5
    assert [(e["subject_id"], e["address"]) for e in data["unauthorized"]] == [("s-1", "ana.garcia@example.net")]
    assert data["unauthorized"][0]["reason"] == "the address belongs to no contact linked to s-1 on 2021-11-22"
    assert set(data["unauthorized"][0]) >= {"seq", "message_id", "hash", "reason", "on_date", "kind"}
    assert data["affected_subjects"] == ["s-1"] and data["wrong_recipients"] == ["ana.garcia@example.net"]
    assert data["hipaa_thresholds"]["hhs_notice_within_60_days"] is False
    # A correction dated after the send changes nothing for that day.
    outside = _scope(db, capsys, "2021-11-23", "2021-11-30")
    assert outside["examined"] == 0 and outside["unauthorized"] == []


def test_a_correction_dated_after_the_send_leaves_it_authorized(db, tmp_path, capsys):
    _sent_day(db, tmp_path, capsys)
    _correct_custody(db, tmp_path, as_of=date(2021, 11, 23))
    data = _scope(db, capsys, "2021-11-22", "2021-11-22")
    assert data["unauthorized"] == []


def test_letters_go_to_the_contacts_authorized_now_in_their_language(db, tmp_path, capsys):
    _sent_day(db, tmp_path, capsys)
    _correct_custody(db, tmp_path)
    folder = tmp_path / "letters"
    result = run(capsys, "--db", db.url, "breach-scope", "--from", "2021-11-22", "--to", "2021-11-22",
                 "--letters", folder)
    assert result.code == 0, result.err
    assert "1 unauthorized" in result.out and "ledger entry" in result.out
    letters = sorted(p.name for p in folder.iterdir() if p.suffix == ".html")
    assert letters == ["s-1--p-6.es.html"]
    html = (folder / letters[0]).read_text(encoding="utf-8")
    assert "Notice of Data Breach" in html
    for heading in ("What Happened", "What Information Was Involved", "What We Are Doing", "What You Can Do",
                    "For More Information"):
        assert heading in html
    assert "María García" in html and "Rosa Vega" in html and "rosa.vega@example.net" in html
    assert "ana.garcia" not in html  # never names the wrong recipient
    for word in ("positive", "negative", "positivo", "negativo"):
        assert word not in html.lower()


def test_accounting_lists_every_disclosure_about_a_person(db, tmp_path, capsys):
    _sent_day(db, tmp_path, capsys)
    data = json.loads(run(capsys, "--db", db.url, "ledger", "accounting", "s-1", "--json").out)
    assert [(d["recipient_id"], d["recipient_name"], d["address"], d["kind"]) for d in data["disclosures"]] == [
        ("p-1", "Ana García", "ana.garcia@example.net", "result-available")]
    assert data["disclosures"][0]["purpose"] and data["disclosures"][0]["information"]
    text = run(capsys, "--db", db.url, "ledger", "accounting", "s-1")
    assert text.code == 0 and "Ana García" in text.out and "1 message(s)" in text.out
    nobody = run(capsys, "--db", db.url, "ledger", "accounting", "p-2", "--json")
    assert json.loads(nobody.out)["disclosures"] == []
    unknown = run(capsys, "--db", db.url, "ledger", "accounting", "x-404")
    assert unknown.code == 1 and "x-404" in unknown.err


def test_retention_purges_tokens_and_keeps_the_ledger_verifiable(db, tmp_path, capsys):
    from datetime import UTC, datetime, timedelta

    from schoolpass.disclosure.retention import purge

    _sent_day(db, tmp_path, capsys)
    with db.engine.begin() as conn:
        assert purge(conn, datetime.now(UTC), 30) == 0
        assert purge(conn, datetime.now(UTC) + timedelta(days=31), 30) == 5
        assert conn.exec_driver_sql("SELECT count(*) FROM link_tokens").scalar() == 0
    assert run(capsys, "--db", db.url, "ledger", "verify").code == 0
    assert len(run(capsys, "--db", db.url, "ledger", "export", "--json").out.splitlines()) == 5


def test_letters_are_also_pdf_when_the_pdf_extra_is_installed(db, tmp_path, capsys):
    import importlib.util

    import pytest

    if importlib.util.find_spec("weasyprint") is None:
        pytest.skip("the pdf extra (WeasyPrint) is not installed: HTML letters only")
    _sent_day(db, tmp_path, capsys)
    _correct_custody(db, tmp_path)
    folder = tmp_path / "letters"
    result = run(capsys, "--db", db.url, "breach-scope", "--from", "2021-11-22", "--to", "2021-11-22",
                 "--letters", folder)
    assert result.code == 0 and "(HTML and PDF)" in result.err
    pdf = folder / "s-1--p-6.es.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size > 2000


def test_every_split_of_the_subjects_finds_the_same_disclosures(db, tmp_path, capsys, monkeypatch):
    """breach_scope replays parts of the subjects on parallel connections: any split gives one answer, whether
    the window's entries are read as a range of seq or by subject (the plan for a window that holds much of
    the ledger, as this one does)."""
    from datetime import UTC, datetime

    from schoolpass.disclosure import breach
    from schoolpass.disclosure.breach import breach_scope
    from schoolpass.disclosure.ledger import append

    _sent_day(db, tmp_path, capsys)
    # A custody correction recorded now but effective on 11-23, inside the window: s-1's 11-22 send stays
    # allowed, the same address on 11-24 is not.
    _correct_custody(db, tmp_path, as_of=date(2021, 11, 23))
    extra = [  # (day, subject, address, unauthorized?)
        (date(2021, 11, 24), "s-1", "ana.garcia@example.net", True),
        (date(2021, 11, 24), "s-1", "ROSA.VEGA@example.net", False),  # the new guardian, in other letter case
        (date(2021, 11, 24), "s-2", "ana.garcia@example.net", False),
        (date(2021, 11, 25), "s-2", "someone@example.org", True),
        (date(2021, 11, 25), "0-not-on-roster", "ana.garcia@example.net", True),  # sorts before every id
        (date(2021, 11, 25), "zz-not-on-roster", "ana.garcia@example.net", True),  # and after
        (date(2021, 11, 26), "t-1", "ana.garcia@example.net", True),
    ]
    with db.engine.begin() as conn:
        for n, (day, subject, address, _) in enumerate(extra):
            append(conn, sent_at=datetime(day.year, day.month, day.day, 15, n, tzinfo=UTC), on_date=day,
                   notice_id=1, message_id=f"<extra-{n}@test>", kind="result-available", subject_id=subject,
                   recipient_id=subject, address=address, content_sha256="0" * 64)
    expected = sorted((s, a) for _, s, a, bad in extra if bad)
    answers = []
    plans = []
    read = breach._not_authorized_on

    def noted(*args, **kwargs):
        plans.append(args[-1])
        return read(*args, **kwargs)

    # The worker processes run the module as it is on disk: the plan is seen in this process (parts=1).
    monkeypatch.setattr(breach, "_not_authorized_on", noted)
    for share in (2.0, 0.0):  # never by subject, always by subject
        monkeypatch.setattr(breach, "BY_SUBJECT_FROM", share)
        for parts in (1, 2, 3, 7):
            with db.engine.connect() as conn:
                scope = breach_scope(conn, date(2021, 11, 1), date(2021, 11, 30), parts=parts)
            assert scope.examined == 5 + len(extra)
            assert sorted((e["subject_id"], e["address"]) for e in scope.unauthorized) == expected, (share, parts)
            answers.append(scope.as_dict())
    assert plans == [False, True]
    assert all(answer == answers[0] for answer in answers)
