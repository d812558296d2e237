"""Results intake: matched without guessing, stored once, corrections replace, bad files refused whole."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from schoolpass.errors import InputRejected
from schoolpass.results.importer import import_results
from schoolpass.results.models import LabResult, LabResultRevision
from schoolpass.roster.importer import import_roster
from schoolpass.storage.models import metadata
from tests.cli import run
from tests.results.files import SAMPLES, person, simplereport
from tests.roster.exports import read_sample, write_export

ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2021, 11, 22, 18, 0, tzinfo=UTC)


def load(db, path, fmt="auto"):
    return import_results(db.engine, path, fmt, ZONE, now=NOW)


def stored(db) -> dict[str, tuple]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(LabResult.accession, LabResult.person_id, LabResult.match_method,
                                   LabResult.result, LabResult.revision)).all()
    return {r.accession: (r.person_id, r.match_method, r.result, r.revision) for r in rows}


def counts(db) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in metadata.sorted_tables}


@pytest.fixture
def roster(db, tmp_path):
    """The sample roster plus twins (same family name and birth date) and two namesakes."""
    users = read_sample("users.csv")
    demographics = read_sample("demographics.csv")
    extra = [("s-10", "Ama", "Mensah", "2010-05-05", "900010"), ("s-11", "Kofi", "Mensah", "2010-05-05", "900011"),
             ("s-12", "Ana", "Lopez", "2012-01-01", "900012"), ("s-13", "Ana", "López", "2012-01-01", "900013"),
             ("s-14", "Lea", "Ito", "2009-03-03", "004512345")]
    for sid, given, family, born, number in extra:
        users.append({"sourcedId": sid, "orgSourcedIds": "sch-1", "role": "student", "givenName": given,
                      "familyName": family, "identifier": number, "agentSourcedIds": "p-4"})
        demographics.append({"sourcedId": sid, "birthDate": born})
    import_roster(db.engine, write_export(tmp_path / "roster", users=users, demographics=demographics),
                  date(2021, 8, 16))
    return db


def test_sample_files_match_as_their_readme_says(roster):
    summary = load(roster, SAMPLES / "simplereport.csv")
    assert (summary.format, summary.new, summary.matched_by_id, summary.matched_by_name) == (
        "simplereport-csv", 2, 1, 1)
    assert stored(roster) == {"SR-0001": ("s-4", "id", "negative", 1),
                              "SR-0002": ("s-3", "name-birth-date", "positive", 1)}
    before = counts(roster)
    again = load(roster, SAMPLES / "simplereport.csv")
    assert (again.new, again.duplicates) == (0, 2)
    assert {k: v for k, v in counts(roster).items() if k != "result_imports"} == {
        k: v for k, v in before.items() if k != "result_imports"}


def test_collection_time_is_read_in_the_district_zone(roster):
    load(roster, SAMPLES / "simplereport.csv")
    with roster.engine.connect() as conn:
        row = conn.execute(select(LabResult.collected_at, LabResult.collected_on)
                           .where(LabResult.accession == "SR-0001")).one()
    assert row.collected_at == datetime(2021, 11, 17, 16, 15, tzinfo=UTC)  # 08:15 in Los Angeles
    assert row.collected_on == date(2021, 11, 17)


def test_twins_with_swapped_ids_match_by_name_and_birth_date(roster, tmp_path):
    path = simplereport(tmp_path / "twins.csv", [
        person("900011", "Ama", "Mensah", "05/05/2010", "T-1"),  # Kofi's id, Ama's name
        person("900010", "Kofi", "Mensah", "05/05/2010", "T-2"),
    ])
    summary = load(roster, path)
    assert (summary.matched_by_id, summary.matched_by_name) == (0, 2)
    assert stored(roster)["T-1"][:2] == ("s-10", "name-birth-date")
    assert stored(roster)["T-2"][:2] == ("s-11", "name-birth-date")


def test_id_that_lost_its_leading_zeros_matches_by_name(roster, tmp_path):
    load(roster, simplereport(tmp_path / "z.csv", [person("4512345", "LEA", "ITO", "03/03/2009", "Z-1")]))
    assert stored(roster)["Z-1"][:2] == ("s-14", "name-birth-date")


def test_namesakes_never_receive_a_name_matched_result(roster, tmp_path):
    summary = load(roster, simplereport(tmp_path / "n.csv", [person("", "ana", "LOPEZ", "2012-01-01", "N-1")]))
    assert summary.unmatched == 1
    assert stored(roster)["N-1"][:2] == (None, None)
    with roster.engine.connect() as conn:
        reason = conn.execute(select(LabResult.unmatched_reason)).scalar_one()
    assert reason == "more than one person has this name and birth date"


def test_contradicted_id_with_no_name_match_waits_in_the_queue(roster, tmp_path):
    load(roster, simplereport(tmp_path / "c.csv", [person("900004", "Jade", "Okafor", "01/11/2006", "C-1")]))
    with roster.engine.connect() as conn:
        row = conn.execute(select(LabResult.person_id, LabResult.unmatched_reason)).one()
    assert row.person_id is None
    assert row.unmatched_reason.startswith("the lab's name or birth date disagrees")


def test_id_alone_matches_when_the_lab_gives_no_name(roster, tmp_path):
    load(roster, simplereport(tmp_path / "i.csv", [person("t-1", "", "", "", "I-1")]))  # sourcedId works too
    assert stored(roster)["I-1"][:2] == ("t-1", "id")


def test_contacts_are_not_matched(roster, tmp_path):
    summary = load(roster, simplereport(tmp_path / "p.csv", [person("", "Ana", "García", "1985-01-01", "P-1"),
                                                            person("p-1", "", "", "", "P-2")]))
    assert summary.unmatched == 2  # parents are not in the program


def test_correction_replaces_and_keeps_the_old_values(roster, tmp_path):
    load(roster, simplereport(tmp_path / "a.csv", [person("900004", "Jide", "Okafor", "01/11/2006", "X-1",
                                                          test_result="Negative")]))
    fix = simplereport(tmp_path / "b.csv", [person("900004", "Jide", "Okafor", "01/11/2006", "X-1",
                                                   test_result="Positive", test_result_status="C")])
    summary = load(roster, fix)
    assert (summary.new, summary.corrected) == (0, 1)
    assert stored(roster)["X-1"] == ("s-4", "id", "positive", 2)
    with roster.engine.connect() as conn:
        assert conn.execute(select(LabResultRevision.result, LabResultRevision.revision)).all() == [("negative", 1)]
    again = load(roster, fix)
    assert (again.corrected, again.duplicates) == (0, 1)
    assert stored(roster)["X-1"][3] == 2


def test_correction_in_the_same_file_wins_and_duplicates_are_stored_once(roster, tmp_path):
    rows = [person("900004", "Jide", "Okafor", "01/11/2006", "D-1", test_result="Negative"),
            person("900004", "Jide", "Okafor", "01/11/2006", "D-1", test_result="Negative"),
            person("900004", "Jide", "Okafor", "01/11/2006", "D-1", test_result="Detected", test_result_status="C")]
    summary = load(roster, simplereport(tmp_path / "d.csv", rows))
    assert (summary.results, summary.new, summary.duplicates) == (3, 1, 2)
    assert stored(roster)["D-1"][2] == "positive"


def test_a_different_value_without_correction_is_a_flagged_duplicate(roster, tmp_path):
    load(roster, simplereport(tmp_path / "a.csv", [person("900004", "", "", "", "F-1", test_result="Negative")]))
    summary = load(roster, simplereport(tmp_path / "b.csv", [person("900004", "", "", "", "F-1",
                                                                    test_result="Positive")]))
    assert summary.duplicates == 1
    assert summary.warnings == ["line 2: a result with this accession number and test code is already stored "
                                "with a different value; only a correction replaces it"]
    assert stored(roster)["F-1"][2] == "negative"


def test_other_analytes_are_skipped_and_counted(roster, tmp_path):
    summary = load(roster, simplereport(tmp_path / "f.csv", [
        person("900004", "", "", "", "A-1"), person("900004", "", "", "", "A-1", test_performed_code="92142-9")]))
    assert (summary.results, summary.skipped_analytes) == (1, 1)


def test_queue_is_tried_again_when_the_roster_knows_more(roster, tmp_path):
    load(roster, simplereport(tmp_path / "q.csv", [person("900099", "Nia", "Bell", "02/02/2012", "Q-1")]))
    assert stored(roster)["Q-1"][0] is None
    with roster.engine.connect() as conn:  # tried against roster import 1; not again until a newer one
        assert conn.execute(select(LabResult.tried_roster)).scalar_one() == 1
    users = read_sample("users.csv") + [{"sourcedId": "s-99", "orgSourcedIds": "sch-1", "role": "student",
                                         "givenName": "Nia", "familyName": "Bell", "identifier": "900099",
                                         "agentSourcedIds": "p-4"}]
    demographics = read_sample("demographics.csv") + [{"sourcedId": "s-99", "birthDate": "2012-02-02"}]
    import_roster(roster.engine, write_export(tmp_path / "r2", users=users, demographics=demographics),
                  date(2021, 11, 1))
    summary = load(roster, SAMPLES / "simplereport.csv")
    assert summary.queue_matched == 1
    assert stored(roster)["Q-1"][:2] == ("s-99", "id")


@pytest.mark.parametrize("change, message", [
    ({"specimen_collection_date": ""}, "specimen_collection_date is empty"),
    ({"specimen_collection_date": "11/23/2021 08:00"}, "specimen_collection_date is in the future"),
    ({"specimen_collection_date": "13/45/2021"}, "specimen_collection_date is not a date"),
    ({"patient_dob": "1/32/2006"}, "patient_dob is not a date"),
    ({"accession_number": ""}, "accession_number is empty"),
    ({"patient_id": "", "patient_first_name": ""}, "no patient_id, and no full name with patient_dob"),
    ({"test_result_status": "X"}, "test_result_status must be F or C"),
])
def test_bad_records_refuse_the_file(roster, tmp_path, change, message):
    bad_row = {**person("900004", "Jide", "Okafor", "01/11/2006", "B-2"), **change}
    path = simplereport(tmp_path / "bad.csv", [person("900004", "Jide", "Okafor", "01/11/2006", "B-1"), bad_row])
    before = counts(roster)
    with pytest.raises(InputRejected) as refused:
        load(roster, path)
    assert [str(p) for p in refused.value.problems] == [f"bad.csv:3: {message}"]
    assert counts(roster) == before


def test_missing_column_is_refused(roster, tmp_path):
    from tests.results.files import sample_rows

    header = [c for c in sample_rows()[0] if c not in ("patient_sex", "test_result_date")]
    with pytest.raises(InputRejected) as refused:
        load(roster, simplereport(tmp_path / "h.csv", [person("900004", "", "", "", "H-1")], header=header))
    assert [str(p) for p in refused.value.problems] == [
        "h.csv:1: missing columns test_result_date, patient_sex (or patient_gender)"]


def test_cli_queue_match_and_unmatch(roster, tmp_path, capsys):
    path = simplereport(tmp_path / "q.csv", [person("", "Ana", "Lopez", "2012-01-01", "Q-9")])
    imported = run(capsys, "results", "import", path, "--json", "--db", roster.url)
    assert imported.code == 0 and json.loads(imported.out)["unmatched"] == 1
    queue = json.loads(run(capsys, "results", "unmatched", "--json", "--db", roster.url).out)
    assert [(q["accession_number"], q["name"], q["birth_date"]) for q in queue] == [
        ("Q-9", "Ana Lopez", "2012-01-01")]
    result_id = queue[0]["id"]
    matched = run(capsys, "results", "match", result_id, "s-13", "--by", "nurse.kim", "--db", roster.url)
    assert matched.code == 0
    assert stored(roster)["Q-9"][:2] == ("s-13", "staff")
    assert run(capsys, "results", "unmatch", result_id, "--by", "nurse.kim", "--db", roster.url).code == 0
    # Back in the queue for staff; automatic matching leaves it alone.
    load(roster, SAMPLES / "simplereport.csv")
    assert stored(roster)["Q-9"][:2] == (None, None)
    with roster.engine.connect() as conn:
        events = conn.execute(text("SELECT action, person_id, previous_person_id, by FROM result_match_events "
                                   "ORDER BY id")).all()
    assert [tuple(e) for e in events] == [("match", "s-13", None, "nurse.kim"), ("unmatch", None, "s-13", "nurse.kim")]
    wrong = run(capsys, "results", "match", result_id, "p-1", "--db", roster.url)
    assert wrong.code == 1 and "not a student or staff member" in wrong.err


@pytest.mark.parametrize("sample, expected", [
    ("elr-oru-r01.hl7", {"ACC-21-000001": ("s-1", "id", "positive", 1),
                         "ACC-21-000002": ("s-2", "id", "negative", 1)}),
    ("fhir-bundle.json", {"ACC-21-000377": ("t-1", "id", "negative", 1)}),
])
def test_hl7_and_fhir_samples_match_and_import_once(roster, sample, expected):
    summary = load(roster, SAMPLES / sample)
    assert summary.format == {"hl7": "hl7", "json": "fhir"}[sample.rsplit(".", 1)[1]]
    assert stored(roster) == expected
    again = load(roster, SAMPLES / sample)
    assert (again.new, again.duplicates) == (0, len(expected))


def test_hl7_sample_collection_days_in_the_district_calendar(roster):
    load(roster, SAMPLES / "elr-oru-r01.hl7")
    with roster.engine.connect() as conn:
        days = dict(conn.execute(select(LabResult.accession, LabResult.collected_on)).all())
    assert days == {"ACC-21-000001": date(2021, 8, 20), "ACC-21-000002": date(2021, 11, 18)}


def test_large_files_are_parsed_in_a_second_process(roster, monkeypatch):
    from schoolpass import background

    monkeypatch.setattr(background, "MIN_BYTES", 0)
    summary = load(roster, SAMPLES / "elr-oru-r01.hl7")
    assert (summary.new, summary.matched_by_id) == (2, 2)


def test_bad_hl7_names_message_and_segment(roster, tmp_path):
    text = (SAMPLES / "elr-oru-r01.hl7").read_text(encoding="utf-8").replace("|20130402|", "|20131402|")
    (tmp_path / "bad.hl7").write_text(text, encoding="utf-8")
    before = counts(roster)
    with pytest.raises(InputRejected) as refused:
        load(roster, tmp_path / "bad.hl7")
    assert [str(p) for p in refused.value.problems] == ["bad.hl7: message 1, PID: PID-7 is not a date"]
    assert counts(roster) == before


def test_format_detection_reads_content_not_names(roster, tmp_path):
    misnamed = tmp_path / "results.txt"
    misnamed.write_bytes((SAMPLES / "fhir-bundle.json").read_bytes())
    assert load(roster, misnamed).format == "fhir"
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello\n", encoding="utf-8")
    from schoolpass.errors import SchoolpassError

    with pytest.raises(SchoolpassError, match="cannot tell the format"):
        load(roster, unknown)


def test_id_match_needs_a_birth_date_on_record_to_confirm_the_labs(db, tmp_path):
    demographics = [d for d in read_sample("demographics.csv") if d["sourcedId"] != "s-4"]
    import_roster(db.engine, write_export(tmp_path / "r", demographics=demographics), date(2021, 8, 16))
    load(db, simplereport(tmp_path / "a.csv", [person("900004", "Jide", "Okafor", "01/11/2006", "U-1"),
                                               person("900004", "Jide", "Okafor", "", "U-2")]))
    with db.engine.connect() as conn:
        rows = dict(conn.execute(select(LabResult.accession, LabResult.unmatched_reason)).all())
    assert stored(db)["U-2"][:2] == ("s-4", "id")  # the lab gave no birth date: nothing to contradict
    assert stored(db)["U-1"][:2] == (None, None)
    assert rows["U-1"] == "the person with this id has no birth date on record to confirm the lab's"


def test_file_that_is_not_utf8_is_refused_by_line(roster, tmp_path):
    path = simplereport(tmp_path / "latin.csv", [person("900004", "Jide", "Okafor", "01/11/2006", "L-1"),
                                                 person("", "María", "García", "04/02/2013", "L-2")])
    path.write_bytes(path.read_bytes().replace("María".encode(), "María".encode("latin-1")))
    with pytest.raises(InputRejected) as refused:
        load(roster, path)
    assert [str(p) for p in refused.value.problems] == ["latin.csv:3: not UTF-8 text"]


def test_the_same_result_in_another_format_is_a_quiet_duplicate(roster, tmp_path):
    load(roster, SAMPLES / "elr-oru-r01.hl7")  # Luis: 260415000 Not detected, lab 05D0000001
    csv_copy = simplereport(tmp_path / "again.csv", [person(
        "900002", "Luis", "García", "09/17/2011", "ACC-21-000002", test_performed_code="94500-6",
        test_result="Not Detected", testing_lab_clia="05D0000001", specimen_collection_date="11/18/2021 09:00")])
    summary = load(roster, csv_copy)
    assert (summary.new, summary.duplicates, summary.warnings) == (0, 1, [])
