"""The HL7 v2.5.1 ORU^R01 (ELR) parser: the shared sample, separators, bad records, and properties."""

from __future__ import annotations

import io
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schoolpass.results import hl7_tokens
from schoolpass.results.codes import PROGRAM_TEST_CODES
from schoolpass.results.hl7 import parse_hl7
from schoolpass.results.records import LabResult, ParseOutcome, ParseProblem

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "samples" / "results" / "elr-oru-r01.hl7"
ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2021, 11, 22, 12, 0, tzinfo=ZONE)
FLU = ("OBX|2|CWE|92142-9^Influenza virus A RNA [Presence] in Respiratory specimen by NAA with probe detection^LN||"
       "260415000^Not detected^SCT||||||F|||20210820090000-0700|05D0000001^SAMPLE LAB^CLIA||||20210821150000-0700")


def sample_messages() -> list[str]:
    """The sample's two messages, each with its segments separated by CR."""
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return ["MSH" + part.strip("\r") for part in text.split("MSH") if part.strip()]


MARIA, LUIS = sample_messages()


def parse(source, now: datetime = NOW, **kwargs) -> tuple[list[LabResult], ParseOutcome]:
    outcome = ParseOutcome(problems=[])
    return list(parse_hl7(source, ZONE, now, outcome, **kwargs)), outcome


def file_of(*messages: str, separator: str = "\r", between: str = "\r\n") -> str:
    return between.join(m.replace("\r", separator) for m in messages) + between


def segments(message: str) -> list[str]:
    return message.split("\r")


def edit(message: str, name: str, number: int, value: str, occurrence: int = 0) -> str:
    """The message with field `number` of its `occurrence`-th `name` segment set to `value`."""
    out, seen = [], 0
    for segment in segments(message):
        if segment.startswith(name + "|"):
            if seen == occurrence:
                fields = segment.split("|")
                index = number - 1 if name == "MSH" else number
                fields += [""] * (index + 1 - len(fields))
                fields[index] = value
                segment = "|".join(fields)
            seen += 1
        out.append(segment)
    return "\r".join(out)


def drop(message: str, name: str) -> str:
    return "\r".join(s for s in segments(message) if not s.startswith(name + "|"))


def insert_before(message: str, name: str, new: str) -> str:
    out = []
    for segment in segments(message):
        if segment.startswith(name + "|"):
            out.append(new)
        out.append(segment)
    return "\r".join(out)


def only(message: str, **kwargs) -> LabResult:
    results, outcome = parse(file_of(message), **kwargs)
    assert outcome.problems == []
    assert len(results) == 1
    return results[0]


# -- the shared sample


def test_sample_gives_the_two_results_its_readme_describes():
    with open(SAMPLE, encoding="utf-8", newline="") as f:
        results, outcome = parse(f)
    assert outcome == ParseOutcome(problems=[], skipped_analytes=0)
    maria, luis = results
    assert maria == LabResult(
        source_ref="message 1", patient_ids=("900001",), given_name="María", family_name="García",
        birth_date=date(2013, 4, 2), accession="ACC-21-000001", performing_lab="05D0000001", test_code="94500-6",
        result="positive", result_code="260373001", result_text="Detected",
        collected_at=datetime(2021, 8, 20, 9, 0, tzinfo=timezone(timedelta(hours=-7))),
        resulted_at=datetime(2021, 8, 21, 15, 0, tzinfo=timezone(timedelta(hours=-7))), corrected=False,
    )
    assert maria.collected_at.date() == date(2021, 8, 20)
    assert (luis.source_ref, luis.patient_ids, luis.given_name, luis.family_name) == (
        "message 2", ("900002",), "Luis", "García")
    assert (luis.result, luis.result_code, luis.result_text) == ("negative", "260415000", "Not detected")
    assert luis.collected_at == datetime(2021, 11, 18, 9, 0, tzinfo=timezone(timedelta(hours=-8)))
    assert luis.collected_at.utcoffset() == timedelta(hours=-8)
    assert (luis.accession, luis.performing_lab, luis.birth_date) == ("ACC-21-000002", "05D0000001", date(2011, 9, 17))


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
@pytest.mark.parametrize("between", ["\r", "\n", "\r\n", "\n\n", "\r\n\r\n  \r\n", "\r\r\r"])
def test_cr_lf_and_crlf_files_give_identical_output(separator, between):
    expected, _ = parse(SAMPLE.read_text(encoding="utf-8"))
    text = file_of(MARIA, LUIS, separator=separator, between=between)
    assert parse(text) == (expected, ParseOutcome(problems=[]))
    assert parse(io.StringIO(text, newline="")) == (expected, ParseOutcome(problems=[]))
    assert parse(text.splitlines(keepends=True)) == (expected, ParseOutcome(problems=[]))
    assert parse(iter(text)) == (expected, ParseOutcome(problems=[]))  # one character at a time


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_chunk_boundaries_anywhere(monkeypatch, chunk):
    expected, _ = parse(file_of(MARIA, LUIS))
    monkeypatch.setattr(hl7_tokens, "CHUNK", chunk)
    for separator in ("\r", "\r\n"):
        text = file_of(MARIA, LUIS, separator=separator)
        assert parse(io.StringIO(text, newline=""))[0] == expected
        assert parse([text])[0] == expected  # one huge "line", cut into chunks


def test_blank_lines_byte_order_mark_and_batch_envelope_are_ignored():
    expected, _ = parse(file_of(MARIA, LUIS))
    text = ("\ufeffFHS|^~\\&|LABSYS\r\nBHS|^~\\&|LABSYS\r\n\r\n" + MARIA + "\r\n\r\n   \r\n" + LUIS
            + "\r\nBTS|2\r\nFTS|1\r\n\r\n")
    assert parse(text) == (expected, ParseOutcome(problems=[]))


def test_other_analytes_are_skipped_and_counted():
    panel = insert_before(MARIA, "SPM", FLU)
    panel = insert_before(panel, "SPM", FLU.replace("92142-9", "92141-1"))
    results, outcome = parse(file_of(panel, LUIS))
    assert [r.test_code for r in results] == ["94500-6", "94500-6"]
    assert outcome.skipped_analytes == 2 and outcome.problems == []


def test_several_program_observations_and_order_groups():
    second = ("OBR|2|ORD0009|ACC-21-000009^SAMPLE LAB^05D0000001^CLIA|94558-4^SARS-CoV-2 Ag^LN|||20210819100000|"
              "||||||||||||||20210819110000|||F\r"
              "OBX|1|CWE|94558-4^SARS-CoV-2 Ag^LN||260385009^Negative^SCT||||||C||||||||||||"
              "SAMPLE LAB^^^^^CLIA&2.16.840.1.113883.4.7&ISO^XX^^^05D0000099")
    results, outcome = parse(file_of(MARIA + "\r" + second))
    assert outcome.problems == []
    first, antigen = results
    assert first.accession == "ACC-21-000001" and first.collected_at.day == 20
    assert (antigen.accession, antigen.test_code, antigen.result, antigen.corrected) == (
        "ACC-21-000009", "94558-4", "negative", True)
    assert antigen.collected_at == datetime(2021, 8, 19, 10, 0, tzinfo=ZONE)  # OBR-7 without an offset
    assert antigen.resulted_at == datetime(2021, 8, 19, 11, 0, tzinfo=ZONE)
    assert antigen.performing_lab == "05D0000099"  # OBX-23 organization identifier


def test_corrected_result():
    assert only(edit(MARIA, "OBX", 11, "C")).corrected is True
    assert only(edit(MARIA, "OBX", 11, "P")).corrected is False


# -- where values come from


def test_every_pid3_repetition_and_escape_sequences():
    message = edit(MARIA, "PID", 3, "900001^^^SUSD^MR~S-1^^^SCHOOL^PI~~900001^^^X^MR")
    message = edit(message, "PID", 5, "O\\T\\Brien\\F\\Smith\\E\\^Ana\\S\\Sofía\\R\\\\H\\x\\N\\^^^^^L~Other^Name")
    result = only(message)
    assert result.patient_ids == ("900001", "S-1")
    assert (result.family_name, result.given_name) == ("O&Brien|Smith\\", "Ana^Sofía~x")
    decoded = only(edit(MARIA, "PID", 5, "Garc\\XC3AD\\a^Mar\\XED\\a"))  # UTF-8, else Latin-1
    assert (decoded.family_name, decoded.given_name) == ("García", "María")


def test_patient_without_id_is_read_by_name_and_birth_date():
    result = only(edit(MARIA, "PID", 3, ""))
    assert (result.patient_ids, result.family_name, result.given_name, result.birth_date) == (
        (), "García", "María", date(2013, 4, 2))
    assert only(edit(MARIA, "PID", 7, "")).birth_date is None  # an id is enough
    assert only(edit(MARIA, "PID", 7, "201304021230-0700")).birth_date == date(2013, 4, 2)


def test_accession_falls_back_to_orc3_then_spm2():
    no_obr3 = edit(MARIA, "OBR", 3, "")
    assert only(no_obr3).accession == "ACC-21-000001"  # ORC-3
    no_orc3 = edit(no_obr3, "ORC", 3, "")
    assert only(edit(no_orc3, "SPM", 2, "PLACER-1&LAB^FILLER-2&LAB")).accession == "FILLER-2"
    assert only(edit(no_orc3, "SPM", 2, "PLACER-1&LAB")).accession == "PLACER-1"
    assert only(drop(no_obr3, "ORC")).accession == "ACC-21-000001"  # SPM-2 in the sample


def test_collection_time_falls_back_and_reads_dates_in_the_zone():
    no_spm = edit(MARIA, "SPM", 17, "")
    assert only(no_spm).collected_at == datetime(2021, 8, 20, 9, 0, tzinfo=timezone(timedelta(hours=-7)))
    no_obr = edit(edit(no_spm, "OBR", 7, ""), "OBX", 14, "20210819")
    assert only(no_obr).collected_at == datetime(2021, 8, 19, 0, 0, tzinfo=ZONE)
    range_start = edit(MARIA, "SPM", 17, "202108200915&M^20210820100000")
    assert only(range_start).collected_at == datetime(2021, 8, 20, 9, 15, tzinfo=ZONE)
    precise = edit(MARIA, "SPM", 17, "20210820091502.25+0130")
    assert only(precise).collected_at == datetime(2021, 8, 20, 9, 15, 2, 250000,
                                                  tzinfo=timezone(timedelta(hours=1, minutes=30)))


def test_resulted_time_and_performing_lab_fall_back():
    no_obr22 = edit(MARIA, "OBR", 22, "")
    assert only(no_obr22).resulted_at == datetime(2021, 8, 21, 15, 0, tzinfo=timezone(timedelta(hours=-7)))
    assert only(edit(no_obr22, "OBX", 19, "")).resulted_at is None
    no_obx15 = edit(MARIA, "OBX", 15, "")
    assert only(no_obx15).performing_lab == "05D0000001"  # MSH-4 component 2
    assert only(edit(no_obx15, "MSH", 4, "SAMPLE LAB")).performing_lab == ""


@pytest.mark.parametrize(("value_type", "value", "expected"), [
    ("ST", "Positive", ("positive", None, "Positive")),
    ("TX", "not DETECTED", ("negative", None, "not DETECTED")),
    ("CE", "10828004^Positive^SCT", ("positive", "10828004", "Positive")),
    ("CWE", "419984006^Inconclusive^SCT", ("inconclusive", "419984006", "Inconclusive")),
    ("CWE", "^Detected", ("positive", None, "Detected")),
])
def test_result_values(value_type, value, expected):
    result = only(edit(edit(MARIA, "OBX", 2, value_type), "OBX", 5, value))
    assert (result.result, result.result_code, result.result_text) == expected


def test_loinc_in_the_alternate_identifier_counts():
    message = edit(MARIA, "OBX", 3, "COV^Local covid^L^94500-6^SARS-CoV-2 RNA^LN")
    assert only(message).test_code == "94500-6"


def test_test_codes_can_be_narrowed():
    results, outcome = parse(file_of(MARIA), test_codes=frozenset({"94558-4"}))
    assert results == [] and outcome == ParseOutcome(problems=[], skipped_analytes=1)


# -- bad records

BAD = {
    "no MSH": ("PID|1||900001", "message 1, MSH", "message does not start with an MSH segment"),
    "bad encoding characters": (MARIA.replace("MSH|^~\\&|", "MSH|^~|", 1), "message 1, MSH",
                                "MSH-1/MSH-2 encoding characters are not valid"),
    "not ORU^R01": (edit(MARIA, "MSH", 9, "ADT^A01^ADT_A01"), "message 1, MSH", "MSH-9 is not ORU^R01"),
    "no PID": (drop(MARIA, "PID"), "message 1, PID", "PID segment is missing"),
    "no patient id nor name": (edit(edit(MARIA, "PID", 3, ""), "PID", 5, "García"), "message 1, PID",
                               "no patient id (PID-3) and no full name and birth date (PID-5, PID-7)"),
    "no patient id nor birth date": (edit(edit(MARIA, "PID", 3, "^^^SUSD^MR"), "PID", 7, ""), "message 1, PID",
                                     "no patient id (PID-3) and no full name and birth date (PID-5, PID-7)"),
    "impossible birth date": (edit(MARIA, "PID", 7, "20130231"), "message 1, PID", "PID-7 is not a date"),
    "partial birth date": (edit(MARIA, "PID", 7, "2013"), "message 1, PID", "PID-7 is not a date"),
    "future birth date": (edit(MARIA, "PID", 7, "20250101"), "message 1, PID", "PID-7 is in the future"),
    "no accession": (edit(edit(edit(MARIA, "OBR", 3, ""), "ORC", 3, ""), "SPM", 2, ""), "message 1, OBR",
                     "no accession number (OBR-3, ORC-3 and SPM-2 are empty)"),
    "empty result": (edit(MARIA, "OBX", 5, ""), "message 1, OBX", "OBX-5 (result) is empty"),
    "empty coded result": (edit(MARIA, "OBX", 5, "^^SCT"), "message 1, OBX", "OBX-5 (result) is empty"),
    "unreadable SPM-17": (edit(MARIA, "SPM", 17, "2021-08-20"), "message 1, SPM", "SPM-17 is not a date/time"),
    "unreadable OBR-7": (edit(edit(MARIA, "SPM", 17, ""), "OBR", 7, "20210832"), "message 1, OBR",
                         "OBR-7 is not a date/time"),
    "collection month only": (edit(MARIA, "SPM", 17, "202108"), "message 1, SPM", "SPM-17 is not a date/time"),
    "no collection time": (edit(edit(edit(MARIA, "SPM", 17, ""), "OBR", 7, ""), "OBX", 14, ""), "message 1, OBX",
                           "no specimen collection time (SPM-17, OBR-7 and OBX-14 are empty)"),
    "future collection": (edit(MARIA, "SPM", 17, "20211122130000-0800"), "message 1, SPM",
                          "SPM-17 (collection time) is in the future"),
    "unreadable OBR-22": (edit(MARIA, "OBR", 22, "yesterday"), "message 1, OBR", "OBR-22 is not a date/time"),
    "no OBX": (drop(MARIA, "OBX"), "message 1, OBX", "no OBX segment (no result)"),
    "not a segment": (insert_before(MARIA, "PID", "García, María 2013-04-02"), "message 1",
                      "segment 3 is not an HL7 segment"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_record(case):
    message, where, what = BAD[case]
    results, outcome = parse(file_of(message, LUIS))
    assert outcome.problems == [ParseProblem(where, what)]
    assert [r.source_ref for r in results] == ["message 2"]
    for personal in ("García", "María", "900001", "20130402", "2013-04-02", "yesterday"):
        assert personal not in str(outcome.problems[0])


def test_every_problem_in_a_file_is_listed():
    two_problems = edit(edit(MARIA, "PID", 7, "2013-04-02"), "OBX", 5, "")
    messages = [two_problems, LUIS, BAD["not ORU^R01"][0], BAD["no accession"][0], LUIS]
    results, outcome = parse(file_of(*messages))
    assert [r.source_ref for r in results] == ["message 2", "message 5"]
    assert [str(p) for p in outcome.problems] == [
        "message 1, PID: PID-7 is not a date",
        "message 1, OBX: OBX-5 (result) is empty",
        "message 3, MSH: MSH-9 is not ORU^R01",
        "message 4, OBR: no accession number (OBR-3, ORC-3 and SPM-2 are empty)",
    ]


def test_naive_now_is_read_in_the_zone():
    results, outcome = parse(file_of(LUIS), now=datetime(2021, 11, 18, 8, 59))
    assert results == [] and outcome.problems == [
        ParseProblem("message 1, SPM", "SPM-17 (collection time) is in the future")]


# -- properties

SEPARATOR_POOL = "|^~\\&#!*@%$"
SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.'/,:áéíñóüÅ"


@st.composite
def elr_messages(draw):
    """A valid ORU^R01 with random delimiters, random field contents (with escape sequences), random repetitions."""
    fs, cs, rs, esc, ss = draw(st.permutations(SEPARATOR_POOL))[:5]
    escapes = [f"{esc}{c}{esc}" for c in "FSTRE"]
    token = st.one_of(st.sampled_from(SAFE), st.sampled_from(escapes))
    text = st.lists(token, max_size=8).map("".join)
    solid = st.tuples(st.sampled_from(SAFE.replace(" ", "")), text).map("".join)  # never blank

    def reps(values):
        return rs.join(values)

    ids = draw(st.lists(st.tuples(solid, text), min_size=1, max_size=3))
    pid3 = reps(f"{i}{cs}{cs}{cs}{a}{ss}2.16.840{ss}ISO{cs}MR" for i, a in ids)
    names = draw(st.lists(st.tuples(text, text, text), min_size=1, max_size=3))
    pid5 = reps(f"{f}{cs}{g}{cs}{m}{cs}{cs}{cs}{cs}L" for f, g, m in names)
    birth_dates = st.dates(date(1990, 1, 1), date(2020, 12, 31)).map(lambda d: d.strftime("%Y%m%d"))
    born = draw(st.one_of(st.just(""), birth_dates))
    accession = draw(solid)
    msh = (f"MSH{fs}{cs}{rs}{esc}{ss}{fs}LABSYS{fs}SAMPLE LAB{cs}05D0000001{cs}CLIA{fs}SCHOOLPASS{fs}SUSD{fs}"
           f"20210822083000-0700{fs}{fs}ORU{cs}R01{cs}ORU_R01{fs}MSG1{fs}P{fs}2.5.1")
    out = [msh, f"PID{fs}1{fs}{fs}{pid3}{fs}{fs}{pid5}{fs}{fs}{born}",
           f"OBR{fs}1{fs}{fs}{accession}{cs}LAB{fs}94500-6{cs}covid{cs}LN{fs}{fs}{fs}20210820090000-0700"]
    for number in range(1, draw(st.integers(1, 4)) + 1):
        code = draw(st.sampled_from(sorted(PROGRAM_TEST_CODES) + ["92142-9", "92141-1"]))
        value_type = draw(st.sampled_from(["CWE", "CE", "ST", "TX"]))
        if value_type in ("CWE", "CE"):
            values = draw(st.lists(st.tuples(st.sampled_from(["260373001", "260415000", "419984006"]), text),
                                   min_size=1, max_size=2))
            obx5 = reps(f"{c}{cs}{t}{cs}SCT" for c, t in values)
        else:
            obx5 = reps(draw(st.lists(solid, min_size=1, max_size=2)))
        status = draw(st.sampled_from(["F", "C", "P", "", "c"]))
        out.append(f"OBX{fs}{number}{fs}{value_type}{fs}{code}{cs}{draw(text)}{cs}LN{fs}{fs}{obx5}"
                   + fs * 6 + status)
    out.append(f"SPM{fs}1{fs}{cs}{accession}{ss}LAB{fs}{fs}697989009{cs}swab{cs}SCT")
    return "\r".join(out)


def hl7_value(segment, field_number: int, repetition: int = 1, component_number: int = 1) -> str:
    try:
        return segment.extract_field(1, field_number, repetition, component_number, 1)
    except IndexError:  # the hl7 package's way to say "not there"
        return ""


def expected_from_hl7_package(text: str) -> list[tuple]:
    message = hl7.parse(text)
    pid, obr = message.segment("PID"), message.segment("OBR")
    ids = []
    for repetition in range(1, len(pid[3]) + 1):
        value = hl7_value(pid, 3, repetition).strip()
        if value and value not in ids:
            ids.append(value)
    family = hl7_value(pid, 5, 1, 1).strip() or None
    given = hl7_value(pid, 5, 1, 2).strip() or None
    born = hl7_value(pid, 7)
    birth = date(int(born[:4]), int(born[4:6]), int(born[6:8])) if born else None
    accession = hl7_value(obr, 3).strip()
    rows = []
    for obx in message.segments("OBX"):
        code = hl7_value(obx, 3).strip()
        if code not in PROGRAM_TEST_CODES:
            continue
        if hl7_value(obx, 2) in ("CWE", "CE"):
            result_code, result_text = hl7_value(obx, 5, 1, 1).strip(), hl7_value(obx, 5, 1, 2).strip()
        else:
            result_code, result_text = "", hl7_value(obx, 5, 1, 1).strip()
        rows.append((tuple(ids), family, given, birth, accession, code, result_code or None, result_text or None,
                     hl7_value(obx, 11).strip() == "C"))
    return rows


@settings(max_examples=150, deadline=None)
@given(elr_messages(), st.sampled_from(["\r", "\n", "\r\n"]))
def test_fields_read_as_the_hl7_package_reads_them(message, separator):
    results, outcome = parse(message.replace("\r", separator) + separator)
    assert outcome.problems == []
    got = [(r.patient_ids, r.family_name, r.given_name, r.birth_date, r.accession, r.test_code, r.result_code,
            r.result_text, r.corrected) for r in results]
    assert got == expected_from_hl7_package(message)


def assert_handled(source) -> None:
    results, outcome = parse(source)
    assert all(isinstance(p, ParseProblem) and p.where.startswith("message ") for p in outcome.problems)
    assert not any("could not be read" in p.what for p in outcome.problems), outcome.problems  # no crash guarded
    for result in results:
        assert result.collected_at.tzinfo is not None and result.collected_at <= NOW
        assert result.accession and result.result in ("positive", "negative", "inconclusive")


SAMPLE_TEXT = file_of(MARIA, LUIS)
SAMPLE_SEGMENTS = segments(MARIA) + segments(LUIS)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(SAMPLE_TEXT)))
def test_truncated_files_never_crash(cut):
    assert_handled(SAMPLE_TEXT[:cut])


@settings(max_examples=200, deadline=None)
@given(st.permutations(SAMPLE_SEGMENTS), st.sampled_from(["\r", "\n", "\r\n"]))
def test_shuffled_segments_never_crash(shuffled, separator):
    assert_handled(separator.join(shuffled))


JUNK = st.lists(st.one_of(
    st.characters(), st.sampled_from(list("|^~\\&\r\n0123456789+-.")),
    st.sampled_from(["MSH|^~\\&|", "MSH|", "PID|", "OBR|", "OBX|", "SPM|", "ORC|", "ORU^R01", "94500-6", "CWE|",
                     "20210820", "\\F\\", "\\X", "&", "^^", "~~", "BHS|", "FTS|", "\ufeff"]),
)).map("".join)


@settings(max_examples=300, deadline=None)
@given(JUNK)
def test_random_text_never_crashes(text):
    assert_handled(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.lists(JUNK, min_size=1, max_size=6))
def test_mutated_fields_never_crash(rnd: random.Random, replacements):
    mutated = []
    for segment in SAMPLE_SEGMENTS:
        fields = segment.split("|")
        for replacement in replacements:
            if rnd.random() < 0.1:
                fields[rnd.randrange(len(fields))] = replacement
        mutated.append("|".join(fields))
    assert_handled("\r".join(mutated))
