"""The timing and once-only rules of the day's notices (CONTRACT sections 4 and 5), on both databases.

Most tests call `plan_day` directly, each run in its own transaction as `daily` does, and look at
the notices that run stored. The last ones run a real `daily` against an SMTP sink and read every
message as a recipient would (minimum necessary).

Dates: the sample roster is loaded as of 2021-08-01; results are written as a lab would send them
(SimpleReport CSV). People: s-1 María García (minor, parent p-1 in Spanish), s-2 Luis García (minor,
p-1), s-3 Thao Nguyen (18 from 2021-06-30, herself), s-4 Jide Okafor (minor, parent p-4 in English),
t-1 Karen White (staff, herself).
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from schoolpass.notices.models import Notice
from schoolpass.notices.planning import plan_day
from schoolpass.notices.sink import parse
from schoolpass.policy.model import default_policy, parse_policy
from schoolpass.results.importer import import_results
from tests.cli import run
from tests.notices.district import PEOPLE, ZONE, load_results, load_roster
from tests.notices.sink import running_sink
from tests.results.files import person, simplereport

RESULT, ENDING, OVERDUE = "result-available", "exemption-ending", "test-overdue"
POSITIVE, NEGATIVE = "Detected", "Not Detected"


def day(text: str) -> date:
    return date.fromisoformat(text)


def us(d: date) -> str:
    """A day as SimpleReport writes it."""
    return d.strftime("%m/%d/%Y")


def plan(db, on: date | str, policy=None) -> list[tuple[str, str, int | None, date | None]]:
    """Plan `on` in one transaction, as `daily` does; the notices this run planned as (kind, subject, result, by)."""
    on = day(on) if isinstance(on, str) else on
    with db.engine.begin() as conn:
        planned = plan_day(conn, on, policy or default_policy(), "test", "schoolpass@localhost")
        rows = conn.execute(select(Notice.kind, Notice.subject_id, Notice.result_id, Notice.by_date)
                            .where(Notice.run_id == planned.run_id).order_by(Notice.id)).all()
    return [(kind, subject, result_id, _as_date(by)) for kind, subject, result_id, by in rows]


def _as_date(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


def of(planned, kind: str, subject: str | None = None) -> list:
    return [p for p in planned if p[0] == kind and (subject is None or p[1] == subject)]


def result_ids(db) -> dict[str, list[int]]:
    """Stored results by person, oldest id first."""
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT person_id, id FROM lab_results ORDER BY id").all()
    found: dict[str, list[int]] = {}
    for person_id, result_id in rows:
        found.setdefault(person_id, []).append(result_id)
    return found


def correct(db, tmp_path, who: str, result: str, collected: str, accession: str, name: str) -> None:
    """A corrected result (SimpleReport test_result_status C) for the stored one with this accession."""
    lab_id, first, last, dob = PEOPLE[who]
    row = person(lab_id, first, last, dob, accession, test_result=result,
                 specimen_collection_date=f"{collected} 08:00", test_result_date=f"{collected} 09:00",
                 order_test_date=collected, testing_lab_specimen_received_date=collected,
                 date_result_released=collected, test_result_status="C")
    import_results(db.engine, simplereport(tmp_path / name, [row]), "auto", ZoneInfo(ZONE))


# --- result-available ---------------------------------------------------------------------------------------

def test_result_available_only_for_results_collected_in_the_window(db, tmp_path):
    """D - 3 <= C <= D: the edges are in, a day older (or a collection after D) is out."""
    load_roster(db.engine)
    d = day("2021-11-22")
    load_results(db.engine, tmp_path, [
        ("s-1", NEGATIVE, us(d - timedelta(days=4))),  # one day too old: no one hears
        ("s-2", NEGATIVE, us(d - timedelta(days=3))),  # first day of the window
        ("s-3", POSITIVE, us(d - timedelta(days=1))),
        ("s-4", NEGATIVE, us(d)),                      # the run date itself
        ("t-1", NEGATIVE, us(d + timedelta(days=1))),  # collected after the run date: not yet
    ], name="window.csv")
    planned = plan(db, d)
    assert sorted(p[1] for p in of(planned, RESULT)) == ["s-2", "s-3", "s-4"]
    ids = result_ids(db)
    assert {p[1]: p[2] for p in of(planned, RESULT)} == {who: ids[who][0] for who in ("s-2", "s-3", "s-4")}


def test_a_result_collected_four_days_before_notifies_no_one_on_any_later_day(db, tmp_path):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-2", POSITIVE, "11/18/2021")], name="old.csv")
    for on in ("2021-11-22", "2021-11-23", "2021-12-01"):
        assert of(plan(db, on), RESULT) == [], on


def test_a_back_filled_result_notifies_no_one(db, tmp_path):
    """A result imported today but collected long ago (a lab catching up) is news to no one."""
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("t-1", NEGATIVE, "11/19/2021")], name="current.csv")
    assert [p[1] for p in of(plan(db, "2021-11-22"), RESULT)] == ["t-1"]
    # Imported after that run: results collected in October, and one a week before the next run.
    load_results(db.engine, tmp_path, [("s-2", POSITIVE, "10/01/2021"), ("s-4", NEGATIVE, "10/15/2021"),
                                       ("s-3", NEGATIVE, "11/16/2021")], name="backfill.csv")
    assert of(plan(db, "2021-11-23"), RESULT) == []
    assert of(plan(db, "2021-11-24"), RESULT) == []


def test_result_available_once_per_result(db, tmp_path):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-2", NEGATIVE, "11/21/2021"), ("t-1", POSITIVE, "11/21/2021")],
                 name="once.csv")
    first = of(plan(db, "2021-11-22"), RESULT)
    assert sorted(p[1] for p in first) == ["s-2", "t-1"]
    assert of(plan(db, "2021-11-22"), RESULT) == []  # the same day again
    assert of(plan(db, "2021-11-23"), RESULT) == []  # the next day, still inside the window
    assert of(plan(db, "2021-11-24"), RESULT) == []  # the window's last day for them
    # The same file imported again is the same results: still nothing.
    load_results(db.engine, tmp_path, [("s-2", NEGATIVE, "11/21/2021"), ("t-1", POSITIVE, "11/21/2021")],
                 name="once.csv")
    assert of(plan(db, "2021-11-24"), RESULT) == []


def test_a_corrected_result_is_announced_once_more(db, tmp_path):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-2", NEGATIVE, "11/21/2021"), ("s-4", NEGATIVE, "11/21/2021")],
                 name="first.csv")
    first = of(plan(db, "2021-11-22"), RESULT)
    assert sorted(p[1] for p in first) == ["s-2", "s-4"]
    stored = result_ids(db)["s-2"]
    assert len(stored) == 1

    # The lab corrects s-2's result (same lab, accession and test code; status C; a different result).
    correct(db, tmp_path, "s-2", POSITIVE, "11/21/2021", accession="T-first.csv-0", name="correction.csv")
    assert result_ids(db)["s-2"] == stored  # replaced, not added
    again = plan(db, "2021-11-22")
    assert of(again, RESULT) == [(RESULT, "s-2", stored[0], None)]  # once more, for the corrected result only
    assert of(plan(db, "2021-11-22"), RESULT) == []
    assert of(plan(db, "2021-11-23"), RESULT) == []
    # The same correction received twice is one correction.
    correct(db, tmp_path, "s-2", POSITIVE, "11/21/2021", accession="T-first.csv-0", name="correction-again.csv")
    assert of(plan(db, "2021-11-23"), RESULT) == []


# --- exemption-ending ---------------------------------------------------------------------------------------

P = day("2021-09-01")          # a positive collected on P
EXEMPT_UNTIL = day("2021-11-30")  # P + 90
WINDOW_OPENS = day("2021-11-23")  # exempt_until - 7


def test_exemption_ending_is_due_once_on_the_first_day_of_the_window(db, tmp_path):
    assert P + timedelta(days=90) == EXEMPT_UNTIL and EXEMPT_UNTIL - timedelta(days=7) == WINDOW_OPENS
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-2", POSITIVE, us(P))], name="positive.csv")
    for on in (P + timedelta(days=n) for n in range(0, 83)):  # isolating, then exempt before the window
        assert of(plan(db, on), ENDING) == [], on
    assert of(plan(db, WINDOW_OPENS), ENDING) == [(ENDING, "s-2", None, EXEMPT_UNTIL)]
    for on in (WINDOW_OPENS + timedelta(days=n) for n in range(1, 7)):  # later days of the window
        assert of(plan(db, on), ENDING) == [], on
    assert of(plan(db, EXEMPT_UNTIL), ENDING) == []  # exempt no longer: testing is due instead


@pytest.mark.parametrize("first_run", [day("2021-11-26"), day("2021-11-29")])
def test_exemption_ending_is_planned_by_the_first_run_inside_the_window(db, tmp_path, first_run):
    """When no run happened on the window's first day, the first run inside it plans the notice, once."""
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-2", POSITIVE, us(P))], name="positive.csv")
    assert of(plan(db, WINDOW_OPENS - timedelta(days=1)), ENDING) == []
    assert of(plan(db, first_run), ENDING) == [(ENDING, "s-2", None, EXEMPT_UNTIL)]
    for on in (first_run + timedelta(days=n) for n in range(1, (EXEMPT_UNTIL - first_run).days)):
        assert of(plan(db, on), ENDING) == [], on


def test_exemption_ending_once_per_episode(db, tmp_path):
    """A positive inside the episode changes nothing; a positive 90+ days later starts a new one."""
    load_roster(db.engine)
    second = EXEMPT_UNTIL + timedelta(days=1)  # 2021-12-01, 91 days after P: a new episode
    load_results(db.engine, tmp_path, [("s-2", POSITIVE, us(P)), ("s-2", POSITIVE, "10/20/2021"),
                                       ("s-2", POSITIVE, us(second))], name="episodes.csv")
    assert of(plan(db, WINDOW_OPENS), ENDING) == [(ENDING, "s-2", None, EXEMPT_UNTIL)]
    assert of(plan(db, "2021-11-29"), ENDING) == []
    new_until = second + timedelta(days=90)  # 2022-03-01
    assert of(plan(db, new_until - timedelta(days=8)), ENDING) == []
    assert of(plan(db, new_until - timedelta(days=7)), ENDING) == [(ENDING, "s-2", None, new_until)]
    assert of(plan(db, new_until - timedelta(days=1)), ENDING) == []


SHORT_EXEMPTION = """
program: short exemption
test_codes: [94500-6, 94558-4]
versions:
  - name: exemption barely longer than isolation
    effective_from: 2020-01-01
    screening_interval_days: 7
    isolation_days: 10
    exemption_days: 12
    exemption_notice_days: 7
    result_notice_window_days: 3
"""


def test_exemption_ending_never_while_isolating(db, tmp_path):
    """With a window that reaches into isolation ([P+5, P+12) vs isolating until P+10), nothing before P+10."""
    policy = parse_policy(SHORT_EXEMPTION, "short.yaml")
    load_roster(db.engine)
    p = day("2021-11-01")
    load_results(db.engine, tmp_path, [("s-2", POSITIVE, us(p))], name="positive.csv")
    for n in range(0, 10):  # isolating, though inside the notice window from P+5
        assert of(plan(db, p + timedelta(days=n), policy), ENDING) == [], n
    assert of(plan(db, p + timedelta(days=10), policy), ENDING) == [(ENDING, "s-2", None, p + timedelta(days=12))]
    assert of(plan(db, p + timedelta(days=11), policy), ENDING) == []


# --- test-overdue -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("late", [0, 2])
def test_test_overdue_once_per_overdue_period(db, tmp_path, late):
    """Last negative N: due from N+7, told on the first run then (or later), once; a new lapse, once more."""
    load_roster(db.engine)
    n1, n2 = day("2021-11-08"), day("2021-11-19")
    load_results(db.engine, tmp_path, [("s-2", NEGATIVE, us(n1)), ("s-2", NEGATIVE, us(n2))], name="negatives.csv")
    for on in (n1, n1 + timedelta(days=6)):  # cleared
        assert of(plan(db, on), OVERDUE, "s-2") == [], on
    first = n1 + timedelta(days=7 + late)
    assert of(plan(db, first), OVERDUE, "s-2") == [(OVERDUE, "s-2", None, first)]
    for on in (first + timedelta(days=1), first + timedelta(days=2)):  # still due: told already
        if on < n2:
            assert of(plan(db, on), OVERDUE, "s-2") == [], on
    # A new negative clears them; it lapses in turn: one more notice, once.
    assert of(plan(db, n2), OVERDUE, "s-2") == []
    assert of(plan(db, n2 + timedelta(days=6)), OVERDUE, "s-2") == []
    assert of(plan(db, n2 + timedelta(days=7)), OVERDUE, "s-2") == [(OVERDUE, "s-2", None, n2 + timedelta(days=7))]
    assert of(plan(db, n2 + timedelta(days=8)), OVERDUE, "s-2") == []
    assert of(plan(db, n2 + timedelta(days=20)), OVERDUE, "s-2") == []


def test_a_never_tested_person_is_told_once(db, tmp_path):
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("t-1", NEGATIVE, "11/20/2021")], name="others.csv")
    told = []
    for on in ("2021-11-22", "2021-11-23", "2021-11-24", "2021-12-15", "2022-02-01"):
        told += of(plan(db, on), OVERDUE, "s-1")
    assert told == [(OVERDUE, "s-1", None, day("2021-11-22"))]  # dated like exemption-ending: by the run date


def test_an_inconclusive_result_starts_no_new_period(db, tmp_path):
    """Inconclusive clears nothing: someone never negative is still in their first overdue period."""
    load_roster(db.engine)
    assert [p[1] for p in of(plan(db, "2021-11-15"), OVERDUE, "s-4")] == ["s-4"]
    load_results(db.engine, tmp_path, [("s-4", "invalid result", "11/16/2021")], name="invalid.csv")
    for on in ("2021-11-16", "2021-11-17", "2021-11-30"):
        assert of(plan(db, on), OVERDUE, "s-4") == [], on


def test_when_an_exemption_ends_a_new_overdue_period_begins(db, tmp_path):
    load_roster(db.engine)
    n = day("2021-08-20")
    load_results(db.engine, tmp_path, [("s-2", NEGATIVE, us(n)), ("s-2", POSITIVE, us(P))], name="history.csv")
    assert of(plan(db, n + timedelta(days=7)), OVERDUE, "s-2") == [(OVERDUE, "s-2", None, n + timedelta(days=7))]
    assert of(plan(db, P - timedelta(days=1)), OVERDUE, "s-2") == []  # same period
    for on in (P, P + timedelta(days=9), P + timedelta(days=10), EXEMPT_UNTIL - timedelta(days=1)):
        assert of(plan(db, on), OVERDUE, "s-2") == [], on  # isolating, then exempt
    assert of(plan(db, EXEMPT_UNTIL), OVERDUE, "s-2") == [(OVERDUE, "s-2", None, EXEMPT_UNTIL)]  # P + 90
    assert of(plan(db, EXEMPT_UNTIL + timedelta(days=1)), OVERDUE, "s-2") == []
    assert of(plan(db, EXEMPT_UNTIL + timedelta(days=30)), OVERDUE, "s-2") == []


def test_a_never_tested_person_whose_exemption_ends_is_told_again(db, tmp_path):
    """Told once while never tested; a positive, then the end of its exemption, starts a new period."""
    load_roster(db.engine)
    assert of(plan(db, "2021-08-15"), OVERDUE, "t-1") == [(OVERDUE, "t-1", None, day("2021-08-15"))]
    load_results(db.engine, tmp_path, [("t-1", POSITIVE, us(P))], name="positive.csv")
    assert of(plan(db, "2021-08-31"), OVERDUE, "t-1") == []
    assert of(plan(db, EXEMPT_UNTIL - timedelta(days=1)), OVERDUE, "t-1") == []
    assert of(plan(db, EXEMPT_UNTIL), OVERDUE, "t-1") == [(OVERDUE, "t-1", None, EXEMPT_UNTIL)]
    assert of(plan(db, EXEMPT_UNTIL + timedelta(days=1)), OVERDUE, "t-1") == []


# --- minimum necessary, end to end --------------------------------------------------------------------------

FORBIDDEN = ("positive", "negative", "detected", "positivo", "negativo", "detectado", "covid", "isolat", "aislamiento")
FAMILY_NAMES = {"s-1": "García", "s-2": "García", "s-3": "Nguyen", "s-4": "Okafor", "t-1": "White"}
GIVEN_NAMES = {"s-1": "María", "s-2": "Luis", "s-3": "Thao", "s-4": "Jide", "t-1": "Karen"}
TOKEN = re.compile(r"(/r/|SP-)[A-Za-z0-9_-]{32}")
DATE_EN = re.compile(r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), [A-Z][a-z]+ \d{1,2}, \d{4}")
DATE_ES = re.compile(r"(lunes|martes|miércoles|jueves|viernes|sábado|domingo) \d{1,2} de [a-z]+ de \d{4}")


def _history(db, tmp_path) -> None:
    """Positives for s-2 (Spanish family) and t-1 (English, herself) on P; s-3 and s-4 negative on 11-16."""
    load_roster(db.engine)
    load_results(db.engine, tmp_path, [("s-2", POSITIVE, us(P)), ("t-1", POSITIVE, us(P)),
                                       ("s-3", NEGATIVE, "11/16/2021"), ("s-4", NEGATIVE, "11/16/2021")],
                 name="history.csv")


def _sent(db, capsys, tmp_path, days: list[str]) -> list[dict]:
    """Run a real `daily` on each day against one sink; every message with its ledger entry's kind and subject."""
    with running_sink(tmp_path) as sink:
        for on in days:
            result = run(capsys, "--db", db.url, "daily", "--on", on, "--smtp", sink.url)
            assert result.code == 0, result.err
        raws = sink.raw_messages()
    ledger = {e["message_id"]: e for e in (json.loads(line) for line in
                                            run(capsys, "--db", db.url, "ledger", "export", "--json").out.splitlines())}
    messages = []
    for raw in raws:
        message = parse(raw)
        entry = ledger[str(message["Message-ID"]).strip()]
        parts = [part.get_content() for part in message.walk() if not part.is_multipart()]
        headers = {name: str(value) for name, value in message.items()}
        messages.append({"kind": entry["kind"], "subject_id": entry["subject_id"], "to": entry["address"],
                         "language": headers["Content-Language"], "subject": headers["Subject"],
                         "headers": headers, "parts": parts})
    assert len(messages) == len(ledger)
    return messages


def _without_tokens(text: str) -> str:
    return TOKEN.sub(r"\1<token>", text)


def test_no_message_says_why(db, tmp_path, capsys):
    """Every part of every message, decoded: no result, diagnosis or isolation words, no family name in full."""
    _history(db, tmp_path)
    # 09-02: result-available for the positives, test-overdue for the never tested;
    # 11-23: exemption-ending for s-2 and t-1 (exempt until 11-30), test-overdue for s-3 and s-4 (due from 11-23).
    messages = _sent(db, capsys, tmp_path, ["2021-09-02", "2021-11-23"])
    kinds = {(m["kind"], m["subject_id"]) for m in messages}
    assert {(RESULT, "s-2"), (RESULT, "t-1"), (ENDING, "s-2"), (ENDING, "t-1"),
            (OVERDUE, "s-1"), (OVERDUE, "s-3"), (OVERDUE, "s-4")} <= kinds
    assert {m["language"] for m in messages} == {"en", "es"}
    for m in messages:
        where = f"{m['kind']} about {m['subject_id']} to {m['to']}"
        # Everything a recipient can read (addresses aside: parents' addresses carry family names).
        readable = [m["subject"], *(_without_tokens(p) for p in m["parts"])]
        everything = " ".join([*(v for k, v in m["headers"].items() if k.lower() not in ("to", "x-envelope-to")),
                               *readable]).lower()
        for word in FORBIDDEN:
            assert word not in everything, f"{where}: says {word!r}"
        family = FAMILY_NAMES[m["subject_id"]]
        for text in readable:
            assert family.lower() not in text.lower(), f"{where}: names the family in full"
        initial = f"{GIVEN_NAMES[m['subject_id']]} {family[0]}."
        assert initial in m["subject"], f"{where}: subject does not name {initial}"


def _shape(message: dict) -> str:
    """The Subject with the subject's name and any date taken out."""
    name = f"{GIVEN_NAMES[message['subject_id']]} {FAMILY_NAMES[message['subject_id']][0]}."
    subject = message["subject"].replace(name, "<name>")
    return DATE_ES.sub("<date>", DATE_EN.sub("<date>", subject))


def test_exemption_ending_reads_like_test_overdue(db, tmp_path, capsys):
    """Same Subject wording, and the by-date handled the same way: a recipient cannot tell the two kinds apart.

    (A dated reminder that only exemption-ending carries would say "this person had a positive test
    about 85 days ago" to anyone who has seen both kinds.)
    """
    _history(db, tmp_path)
    messages = _sent(db, capsys, tmp_path, ["2021-09-02", "2021-11-23"])
    for language in ("en", "es"):
        endings = {_shape(m) for m in messages if m["kind"] == ENDING and m["language"] == language}
        overdue = {_shape(m) for m in messages if m["kind"] == OVERDUE and m["language"] == language}
        assert endings and overdue, language
        assert endings == overdue, f"{language}: exemption-ending {endings} vs test-overdue {overdue}"


def test_message_ids_are_distinct_random_and_well_formed():
    from itertools import islice

    from schoolpass.notices.planning import message_ids

    ids = list(islice(message_ids("district.example.org"), 10_000))  # more than one block of randomness
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"<[0-9a-f]{32}@district\.example\.org>", i) for i in ids)
    assert ids[:5] != list(islice(message_ids("district.example.org"), 5))
