"""Statuses from the database: the samples on several dates, the CLI, and everyone = one by one."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from schoolpass.policy.model import default_policy, parse_policy
from schoolpass.policy.statuses import day_report, everyone, status_of
from schoolpass.results.importer import import_results
from schoolpass.results.models import LabResult, ResultImport
from schoolpass.roster.importer import import_roster
from tests.cli import run
from tests.policy.test_policy import FIVE_DAY
from tests.results.files import SAMPLES
from tests.roster.exports import write_export

ZONE = ZoneInfo("America/Los_Angeles")


def load_samples(db, tmp_path):
    import_roster(db.engine, write_export(tmp_path / "roster"), date(2021, 8, 1))
    for name in ("elr-oru-r01.hl7", "simplereport.csv", "fhir-bundle.json"):
        import_results(db.engine, SAMPLES / name, "auto", ZONE)


def statuses(db, day: str, policy=None) -> dict[str, tuple]:
    with db.engine.connect() as conn:
        return {s.id: (s.status, s.return_on, s.exempt_until, s.next_test_due)
                for s in everyone(conn, date.fromisoformat(day), policy or default_policy())}


def test_sample_statuses_on_several_days(db, tmp_path):
    load_samples(db, tmp_path)
    d = date.fromisoformat
    # María: positive 2021-08-20 (isolating, then exempt until 2021-11-18, then due to test again).
    assert statuses(db, "2021-08-25")["s-1"] == ("isolating", d("2021-08-30"), d("2021-11-18"), d("2021-11-18"))
    assert statuses(db, "2021-10-01")["s-1"][0] == "exempt"
    on_22nd = statuses(db, "2021-11-22")
    assert on_22nd == {
        "s-1": ("test-due", d("2021-08-30"), d("2021-11-18"), d("2021-11-18")),
        "s-2": ("cleared", None, None, d("2021-11-25")),  # Luis, negative 11-18
        "s-3": ("isolating", d("2021-11-26"), d("2022-02-14"), d("2022-02-14")),  # Thao, positive 11-16
        "s-4": ("cleared", None, None, d("2021-11-24")),  # Jide, antigen negative 11-17
        "t-1": ("cleared", None, None, d("2021-11-26")),  # Karen, negative 11-19
    }


def test_a_policy_change_applies_from_its_day(db, tmp_path):
    load_samples(db, tmp_path)
    five_day = parse_policy(FIVE_DAY.replace("2021-12-27", "2021-11-20"), "p.yaml")
    d = date.fromisoformat
    assert statuses(db, "2021-11-19", five_day)["s-3"][:2] == ("isolating", d("2021-11-26"))
    assert statuses(db, "2021-11-22", five_day)["s-3"][:2] == ("exempt", d("2021-11-21"))


def test_status_json_through_the_cli(db, tmp_path, capsys):
    load_samples(db, tmp_path)
    result = run(capsys, "status", "s-2", "--on", "2021-11-22", "--json", "--db", db.url)
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "id": "s-2", "on": "2021-11-22", "status": "cleared", "return_on": None, "exempt_until": None,
        "next_test_due": "2021-11-25",
        "last_result": {"result": "negative", "collected_on": "2021-11-18", "test_code": "94500-6"},
        "reasons": ["negative test collected 2021-11-18, within 7 days"]}
    contact = run(capsys, "status", "p-1", "--db", db.url)
    assert contact.code == 1 and "not a student or staff member" in contact.err
    report = json.loads(run(capsys, "statuses", "--on", "2021-11-19", "--json", "--db", db.url).out)
    assert report["by_status"] == {"cleared": 3, "test-due": 1, "isolating": 1, "exempt": 0}
    assert {(c["id"], c["was"], c["now"]) for c in report["changed_since_yesterday"]} == {
        ("t-1", "test-due", "cleared")}


def test_collection_just_before_midnight_counts_for_that_district_day(db, tmp_path):
    from tests.results.files import person, simplereport

    import_roster(db.engine, write_export(tmp_path / "roster"), date(2021, 8, 1))
    path = simplereport(tmp_path / "late.csv", [person("900004", "", "", "", "M-1", test_result="Negative",
                                                       specimen_collection_date="2021-11-18T23:30:00-08:00")])
    import_results(db.engine, path, "auto", ZONE)
    with db.engine.connect() as conn:
        late = status_of(conn, "s-4", date(2021, 11, 25), default_policy())
    assert (late.status, late.last_result.collected_on) == ("test-due", date(2021, 11, 18))  # 07:30 UTC on the 19th


def test_day_report_counts_by_school(db, tmp_path):
    load_samples(db, tmp_path)
    with db.engine.connect() as conn:
        report = day_report(conn, date(2021, 11, 22), default_policy())
    assert {k: dict(v) for k, v in report.by_school.items()} == {
        "sch-1": {"test-due": 1, "cleared": 2}, "sch-2": {"isolating": 1, "cleared": 1}}


# ---- everyone at once equals one by one ---------------------------------------------------------

PEOPLE = ["s-1", "s-2", "s-3", "s-4", "t-1"]
result_strategy = st.tuples(st.sampled_from(PEOPLE), st.integers(0, 200), st.integers(0, 23),
                            st.sampled_from(["positive", "negative", "negative", "inconclusive"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(results=st.lists(result_strategy, max_size=25), days=st.lists(st.integers(0, 220), min_size=1, max_size=4))
def test_everyone_equals_one_by_one(db, tmp_path_factory, results, days):
    db.reset()
    import_roster(db.engine, write_export(tmp_path_factory.mktemp("roster")), date(2021, 1, 1))
    start = datetime(2021, 8, 1, 8, tzinfo=ZONE)
    with db.engine.begin() as conn:
        import_id = conn.execute(insert(ResultImport).values(
            format="test", source_name="t", source_sha256="0" * 64, imported_at=datetime.now(UTC),
            summary="{}").returning(ResultImport.id)).scalar_one()
        for n, (person_id, day, hour, result) in enumerate(results):
            collected = start + timedelta(days=day, hours=hour)
            conn.execute(insert(LabResult).values(
                lab="L", accession=f"A-{n}", test_code="94500-6", patient_ids="[]", result=result,
                collected_at=collected, collected_on=collected.date(), corrected=False, revision=1,
                received_at=datetime.now(UTC), import_id=import_id, source_ref=f"line {n}", person_id=person_id,
                match_method="id", staff_only=False))
    policy = parse_policy(FIVE_DAY.replace("2021-12-27", "2021-09-15"), "p.yaml")
    with db.engine.connect() as conn:
        for day in days:
            on = date(2021, 8, 1) + timedelta(days=day)
            together = {s.id: s for s in everyone(conn, on, policy, explain=True)}
            assert set(together) == set(PEOPLE)
            for person_id in PEOPLE:
                assert together[person_id] == status_of(conn, person_id, on, policy)


# ---- the fast path (shared outcomes, ties on the last day) equals decide() per person ------------

same_day_strategy = st.tuples(st.sampled_from(PEOPLE), st.integers(0, 12), st.integers(0, 23),
                              st.sampled_from(["positive", "negative", "inconclusive"]),
                              st.sampled_from(["94500-6", "94558-4"]))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(results=st.lists(same_day_strategy, max_size=30), days=st.lists(st.integers(0, 14), min_size=1, max_size=3),
       data=st.data())
def test_everyone_fast_path_equals_decide_per_person(db, tmp_path_factory, results, days, data):
    """Few days, so people share facts (and outcomes) and have several results on their last day, stored in an
    order (id) that disagrees with collection time; with and without explanations."""
    from schoolpass.policy.status import ResultForStatus, decide, facts_from

    db.reset()
    import_roster(db.engine, write_export(tmp_path_factory.mktemp("roster")), date(2021, 1, 1))
    start = datetime(2021, 11, 1, 8, tzinfo=ZONE)
    order = data.draw(st.permutations(range(len(results))))
    by_person: dict[str, list[ResultForStatus]] = {p: [] for p in PEOPLE}
    with db.engine.begin() as conn:
        import_id = conn.execute(insert(ResultImport).values(
            format="test", source_name="t", source_sha256="0" * 64, imported_at=datetime.now(UTC),
            summary="{}").returning(ResultImport.id)).scalar_one()
        for n in order:
            person_id, day, hour, result, code = results[n]
            collected = start + timedelta(days=day, hours=hour // 2)  # same hour twice: ties broken by id
            result_id = conn.execute(insert(LabResult).values(
                lab="L", accession=f"A-{n}", test_code=code, patient_ids="[]", result=result,
                collected_at=collected, collected_on=collected.date(), corrected=False, revision=1,
                received_at=datetime.now(UTC), import_id=import_id, source_ref=f"line {n}", person_id=person_id,
                match_method="id", staff_only=False).returning(LabResult.id)).scalar_one()
            by_person[person_id].append(ResultForStatus(result_id, result, collected, collected.date(), code))
    policy = parse_policy(FIVE_DAY.replace("2021-12-27", "2021-11-06"), "p.yaml")
    with db.engine.connect() as conn:
        for day in days:
            on = date(2021, 11, 1) + timedelta(days=day)
            for explain in (False, True):
                together = list(everyone(conn, on, policy, explain=explain))
                assert [s.id for s in together] == sorted(PEOPLE)
                for status in together:
                    reference = decide(status.id, on, facts_from(by_person[status.id], on), policy, explain=explain)
                    assert status == reference and status.as_dict() == reference.as_dict()


def test_status_stays_a_frozen_value():
    import dataclasses

    from schoolpass.policy.status import LatestResult, Status

    on = date(2021, 11, 22)
    status = Status("s-1", on, "cleared", None, None, on, LatestResult("negative", on, "94500-6"), ("why",))
    twin = Status(id="s-1", on=on, status="cleared", return_on=None, exempt_until=None, next_test_due=on,
                  last_result=LatestResult("negative", on, "94500-6"), reasons=("why",))
    assert status == twin and hash(status) == hash(twin) and repr(status) == repr(twin)
    assert dataclasses.replace(status, id="s-2") == Status("s-2", *dataclasses.astuple(status)[1:6], status.last_result,
                                                             ("why",))
    try:
        status.status = "exempt"
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a Status can be changed")
