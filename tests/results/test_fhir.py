"""The FHIR R4 Bundle parser: the shared sample, reference styles, accession fallbacks, bad records, fuzzing."""

from __future__ import annotations

import copy
import io
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schoolpass.results.fhir import parse_fhir
from schoolpass.results.records import LabResult, ParseOutcome

SAMPLE_TEXT = (Path(__file__).resolve().parents[3] / "shared" / "samples" / "results" / "fhir-bundle.json").read_text(
    encoding="utf-8")
SAMPLE = json.loads(SAMPLE_TEXT)
ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2022, 1, 1, tzinfo=timezone.utc)
PST = timezone(timedelta(hours=-8))
PERSONAL = ("Karen", "White", "E7001", "1980-02-14", "1980")
FLU_A = "92142-9"  # Influenza virus A RNA [Presence] in Respiratory specimen by NAA with probe detection


def parse(bundle: dict | str | bytes, now: datetime = NOW) -> tuple[list[LabResult], ParseOutcome]:
    outcome = ParseOutcome(problems=[])
    if isinstance(bundle, dict):
        bundle = json.dumps(bundle)
    stream = io.BytesIO(bundle) if isinstance(bundle, bytes) else io.StringIO(bundle)
    results = list(parse_fhir(stream, ZONE, now, outcome))
    for problem in outcome.problems:  # never a personal value in a problem
        assert not any(value in str(problem) for value in PERSONAL), problem
    return results, outcome


def sample() -> tuple[dict, dict, dict]:
    """A fresh copy of the sample bundle, its Patient and its Observation."""
    bundle = copy.deepcopy(SAMPLE)
    return bundle, bundle["entry"][0]["resource"], bundle["entry"][1]["resource"]


def one(bundle: dict) -> LabResult:
    results, outcome = parse(bundle)
    assert outcome.problems == []
    assert len(results) == 1
    return results[0]


def problems(bundle: dict) -> list[str]:
    results, outcome = parse(bundle)
    assert results == []
    return [str(p) for p in outcome.problems]


def entry(resource: dict, full_url: str | None = None) -> dict:
    return {"fullUrl": full_url, "resource": resource} if full_url else {"resource": resource}


def observation(**changes) -> dict:
    """The sample Observation with `changes` (a None value removes the element)."""
    obs = copy.deepcopy(SAMPLE["entry"][1]["resource"])
    obs.update(changes)
    return {k: v for k, v in obs.items() if v is not None}


def loinc(code: str) -> dict:
    return {"coding": [{"system": "http://loinc.org", "code": code}]}


# --- the shared sample ---------------------------------------------------------------------------

def test_sample_yields_karen_white_negative():
    results, outcome = parse(SAMPLE_TEXT.encode())
    assert outcome.problems == [] and outcome.skipped_analytes == 0
    assert results == [LabResult(
        source_ref="entry 2", patient_ids=("E7001",), given_name="Karen", family_name="White",
        birth_date=date(1980, 2, 14), accession="ACC-21-000377", performing_lab="", test_code="94500-6",
        result="negative", result_code="260415000", result_text="Not detected",
        collected_at=datetime(2021, 11, 19, 8, 30, tzinfo=PST),
        resulted_at=datetime(2021, 11, 20, 6, 10, tzinfo=PST), corrected=False)]
    assert results[0].collected_at.isoformat() == "2021-11-19T08:30:00-08:00"


def test_text_stream_and_byte_order_mark():
    assert len(parse("\ufeff" + SAMPLE_TEXT)[0]) == 1
    assert len(parse(b"\xef\xbb\xbf" + SAMPLE_TEXT.encode())[0]) == 1


# --- references, identifiers, accession fallbacks --------------------------------------------------

def test_relative_patient_reference():
    bundle, _, obs = sample()
    del bundle["entry"][0]["fullUrl"]
    obs["subject"] = {"reference": "Patient/pat-1"}
    assert one(bundle).patient_ids == ("E7001",)


def test_relative_reference_against_restful_full_urls():
    bundle, _, obs = sample()
    bundle["type"] = "searchset"
    bundle["entry"][0]["fullUrl"] = "https://lab.example/fhir/Patient/pat-1"
    bundle["entry"][1]["fullUrl"] = "https://lab.example/fhir/Observation/obs-1"
    obs["subject"] = {"reference": "Patient/pat-1/_history/3"}
    assert one(bundle).family_name == "White"


def test_contained_patient():
    bundle, patient, obs = sample()
    del bundle["entry"][0]
    obs["contained"] = [dict(patient, id="p")]
    obs["subject"] = {"reference": "#p"}
    result = one(bundle)
    assert (result.source_ref, result.patient_ids, result.given_name) == ("entry 1", ("E7001",), "Karen")


def test_every_patient_identifier_is_returned():
    bundle, patient, _ = sample()
    patient["identifier"] += [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "S-123"}, {"value": "0042"},
                              {"value": "E7001"}, {"system": "urn:x"}]
    assert one(bundle).patient_ids == ("E7001", "S-123", "0042")


def test_name_and_birth_date_without_identifier():
    bundle, patient, _ = sample()
    del patient["identifier"]
    result = one(bundle)
    assert (result.patient_ids, result.given_name, result.family_name, result.birth_date) == (
        (), "Karen", "White", date(1980, 2, 14))


def test_accession_from_diagnostic_report_only():
    bundle, _, obs = sample()
    del obs["identifier"]
    bundle["entry"].append(entry({
        "resourceType": "DiagnosticReport", "status": "final", "code": loinc("94500-6"),
        "identifier": [{"value": "DR-ACC-9"}], "result": [{"reference": bundle["entry"][1]["fullUrl"]}]}))
    assert one(bundle).accession == "DR-ACC-9"


def test_accession_and_collection_time_from_specimen():
    bundle, _, obs = sample()
    del obs["identifier"], obs["effectiveDateTime"]
    obs["specimen"] = {"reference": "Specimen/sp-1"}
    bundle["entry"].append(entry({
        "resourceType": "Specimen", "id": "sp-1", "accessionIdentifier": {"value": "SP-ACC-1"},
        "collection": {"collectedDateTime": "2021-11-18T07:15:00-08:00"}}))
    result = one(bundle)
    assert result.accession == "SP-ACC-1"
    assert result.collected_at == datetime(2021, 11, 18, 15, 15, tzinfo=timezone.utc)


def test_observation_identifier_wins_over_report_and_specimen():
    bundle, _, obs = sample()
    obs["specimen"] = {"reference": "#sp"}
    obs["contained"] = [{"resourceType": "Specimen", "id": "sp", "accessionIdentifier": {"value": "SP"}}]
    bundle["entry"].append(entry({"resourceType": "DiagnosticReport", "status": "final", "code": loinc("94500-6"),
                                  "identifier": [{"value": "DR"}], "result": [{"reference": "Observation/obs-1"}]}))
    assert one(bundle).accession == "ACC-21-000377"


def test_observation_reached_through_report_counts_once():
    bundle, _, obs = sample()
    report = {"resourceType": "DiagnosticReport", "status": "final", "code": loinc("94531-1"),
              "identifier": [{"value": "DR-1"}],
              "contained": [observation(id="o2", identifier=None, code=loinc("94558-4"))],
              "result": [{"reference": "Observation/obs-1"}, {"reference": bundle["entry"][1]["fullUrl"]},
                         {"reference": "#o2"}, {"reference": "#o2"}]}
    report["contained"][0]["subject"] = {"reference": bundle["entry"][0]["fullUrl"]}
    bundle["entry"].append(entry(report))
    results, outcome = parse(bundle)
    assert outcome.problems == []
    assert [(r.source_ref, r.test_code, r.accession) for r in results] == [
        ("entry 2", "94500-6", "ACC-21-000377"), ("entry 3, contained #o2", "94558-4", "DR-1")]


def test_performing_lab_prefers_clia():
    bundle, _, obs = sample()
    obs["performer"] = [{"reference": "Practitioner/doc"}, {"reference": "urn:uuid:org"}]
    bundle["entry"] += [
        entry({"resourceType": "Practitioner", "id": "doc"}),
        entry({"resourceType": "Organization", "identifier": [
            {"system": "urn:x", "value": "LAB-7"}, {"system": "urn:oid:2.16.840.1.113883.4.7", "value": "05D2222542"}]},
            "urn:uuid:org")]
    assert one(bundle).performing_lab == "05D2222542"
    bundle["entry"][-1]["resource"]["identifier"].pop()
    assert one(bundle).performing_lab == "LAB-7"
    obs["performer"] = [{"identifier": {"system": "urn:oid:2.16.840.1.113883.4.7", "value": "11D0000001"}}]
    assert one(bundle).performing_lab == "11D0000001"


def rich_bundle() -> dict:
    """The sample plus a Specimen, a performing Organization, a flu analyte and a DiagnosticReport
    with a contained Observation: every path the parser follows, for the mutation test to break."""
    bundle, _, obs = sample()
    obs.update(specimen={"reference": "urn:uuid:spec"}, performer=[{"reference": "Organization/lab"}])
    contained = observation(id="c1", identifier=None, effectiveDateTime=None, code=loinc("94558-4"),
                            subject={"reference": "Patient/pat-1"}, specimen={"reference": "#s"},
                            valueString="positive", valueCodeableConcept=None)
    bundle["entry"] += [
        entry({"resourceType": "Specimen", "accessionIdentifier": {"value": "SP-1"},
               "collection": {"collectedPeriod": {"start": "2021-11-19T08:00:00"}}}, "urn:uuid:spec"),
        entry({"resourceType": "Organization", "id": "lab", "identifier": [
            {"system": "urn:oid:2.16.840.1.113883.4.7", "value": "05D2222542"}]}),
        entry(observation(id="flu", code=loinc(FLU_A))),
        entry({"resourceType": "DiagnosticReport", "status": "final", "code": loinc("94531-1"),
               "identifier": [{"value": "DR-1"}], "specimen": [{"reference": "#s"}],
               "contained": [contained, {"resourceType": "Specimen", "id": "s",
                                         "collection": {"collectedDateTime": "2021-11-19"}}],
               "result": [{"reference": "Observation/obs-1"}, {"reference": "#c1"}]}),
    ]
    return bundle


RICH = rich_bundle()
RICH_TEXT = json.dumps(RICH, indent=1)


def test_rich_bundle():
    results, outcome = parse(RICH)
    assert outcome.problems == [] and outcome.skipped_analytes == 1
    assert [(r.source_ref, r.accession, r.performing_lab, r.result, r.collected_at.isoformat()) for r in results] == [
        ("entry 2", "ACC-21-000377", "05D2222542", "negative", "2021-11-19T08:30:00-08:00"),
        ("entry 6, contained #c1", "DR-1", "", "positive", "2021-11-19T00:00:00-08:00")]


# --- codes, statuses, times ------------------------------------------------------------------------

def test_flu_analyte_is_skipped_and_counted():
    bundle, _, _ = sample()
    bundle["entry"].append(entry(observation(id="flu", code=loinc(FLU_A), identifier=None, subject=None)))
    bundle["entry"].append(entry(observation(id="local", code={"coding": [{"system": "urn:lab", "code": "X"}]})))
    results, outcome = parse(bundle)
    assert [r.source_ref for r in results] == ["entry 2"]
    assert outcome.problems == [] and outcome.skipped_analytes == 2


def test_program_codes_can_be_narrowed():
    outcome = ParseOutcome(problems=[])
    assert list(parse_fhir(io.StringIO(SAMPLE_TEXT), ZONE, NOW, outcome, frozenset({"94558-4"}))) == []
    assert outcome.skipped_analytes == 1


@pytest.mark.parametrize(("status", "corrected"), [
    ("final", False), ("preliminary", False), ("corrected", True), ("amended", True)])
def test_statuses(status, corrected):
    bundle, _, obs = sample()
    obs["status"] = status
    assert one(bundle).corrected is corrected


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error"])
def test_withdrawn_observations_are_neither_results_nor_skipped_analytes(status):
    bundle, _, obs = sample()
    obs["status"] = status
    del obs["valueCodeableConcept"]
    results, outcome = parse(bundle)
    assert (results, outcome.problems, outcome.skipped_analytes) == ([], [], 0)


def test_unknown_status_is_a_bad_record():
    bundle, _, obs = sample()
    obs["status"] = "unknown"
    assert problems(bundle) == ["entry 2, Observation.status: status is not final, preliminary, corrected or amended"]


@pytest.mark.parametrize(("value", "result", "code", "text"), [
    ({"valueString": "POSITIVE"}, "positive", None, "POSITIVE"),
    ({"valueString": "Not Detected"}, "negative", None, "Not Detected"),
    ({"valueString": "invalid result"}, "inconclusive", None, "invalid result"),
    ({"valueCodeableConcept": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0078", "code": "POS", "display": "Positive"},
        {"system": "http://snomed.info/sct", "code": "260373001", "display": "Detected"}]}},
     "positive", "260373001", "Detected"),
    ({"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "419984006"}],
                               "text": "Inconclusive"}}, "inconclusive", "419984006", "Inconclusive"),
    ({"valueCodeableConcept": {"text": "negative"}}, "negative", None, "negative"),
])
def test_result_values(value, result, code, text):
    bundle, _, obs = sample()
    del obs["valueCodeableConcept"]
    obs.update(value)
    assert (lambda r: (r.result, r.result_code, r.result_text))(one(bundle)) == (result, code, text)


@pytest.mark.parametrize(("effective", "expected"), [
    ({"effectiveDateTime": "2021-11-19"}, datetime(2021, 11, 19, tzinfo=ZONE)),
    ({"effectiveDateTime": "2021-07-01T09:00:00"}, datetime(2021, 7, 1, 9, tzinfo=ZONE)),  # no offset: district's
    ({"effectiveDateTime": "2021-11-19T16:30:00Z"}, datetime(2021, 11, 19, 16, 30, tzinfo=timezone.utc)),
    ({"effectivePeriod": {"start": "2021-11-19T08:30:00-08:00", "end": "2021-11-19T09:00:00-08:00"}},
     datetime(2021, 11, 19, 8, 30, tzinfo=PST)),
    ({"effectiveInstant": "2021-11-19T08:30:00.250-08:00"}, datetime(2021, 11, 19, 8, 30, 0, 250000, tzinfo=PST)),
])
def test_collection_times(effective, expected):
    bundle, _, obs = sample()
    del obs["effectiveDateTime"]
    obs.update(effective)
    collected = one(bundle).collected_at
    assert collected == expected and collected.utcoffset() == expected.utcoffset()


def test_issued_without_offset_is_read_in_the_district_zone():
    bundle, _, obs = sample()
    obs["issued"] = "2021-11-20T06:10"
    assert one(bundle).resulted_at == datetime(2021, 11, 20, 6, 10, tzinfo=ZONE)


def test_panel_header_without_value_is_ignored():
    bundle, _, obs = sample()
    bundle["entry"].append(entry(observation(id="panel", code=loinc("94531-1"), valueCodeableConcept=None,
                                             hasMember=[{"reference": "Observation/obs-1"}])))
    results, outcome = parse(bundle)
    assert [r.test_code for r in results] == ["94500-6"] and outcome.problems == []


# --- bad records -----------------------------------------------------------------------------------

def test_no_subject():
    bundle, _, obs = sample()
    del obs["subject"]
    assert problems(bundle) == ["entry 2, Observation.subject: no subject"]


@pytest.mark.parametrize("reference", [
    "urn:uuid:nowhere", "Patient/other", "#missing", "Group/pat-1", "https://elsewhere.example/fhir/Patient/pat-1"])
def test_unresolvable_subject(reference):
    bundle, _, obs = sample()
    obs["subject"] = {"reference": reference}
    assert problems(bundle) == ["entry 2, Observation.subject: subject does not reference a Patient in the bundle"]


@pytest.mark.parametrize("remove", [
    ("identifier", "birthDate"), ("identifier", "name"), ("identifier", "name", "birthDate")])
def test_patient_without_id_or_name_and_birth_date(remove):
    bundle, patient, _ = sample()
    for key in remove:
        del patient[key]
    assert problems(bundle) == [
        "entry 2, Observation.subject: the Patient has no identifier, and no full name and birth date"]


def test_partial_birth_date_does_not_count():
    bundle, patient, _ = sample()
    del patient["identifier"]
    patient["birthDate"] = "1980"
    assert len(problems(bundle)) == 1


def test_no_accession():
    bundle, _, obs = sample()
    del obs["identifier"]
    assert problems(bundle) == [
        "entry 2, Observation.identifier: no accession number (Observation, DiagnosticReport or Specimen identifier)"]


def test_no_collection_time():
    bundle, _, obs = sample()
    del obs["effectiveDateTime"]
    assert problems(bundle) == [
        "entry 2, Observation.effectiveDateTime: no collection time (Observation.effective[x] or Specimen.collection)"]


def test_collection_time_of_a_month_only():
    bundle, _, obs = sample()
    obs["effectiveDateTime"] = "2021-11"
    assert problems(bundle) == ["entry 2, Observation.effectiveDateTime: collection time gives only a year or month"]


def test_future_collection():
    results, outcome = parse(SAMPLE, now=datetime(2021, 11, 19, 16, 29, tzinfo=timezone.utc))
    assert results == []
    assert [str(p) for p in outcome.problems] == [
        "entry 2, Observation.effectiveDateTime: collection time is in the future"]


def test_future_specimen_collection():
    bundle, _, obs = sample()
    del obs["effectiveDateTime"]
    obs["specimen"] = {"reference": "#sp"}
    obs["contained"] = [{"resourceType": "Specimen", "id": "sp", "collection": {"collectedDateTime": "2030-01-01"}}]
    assert problems(bundle) == ["entry 2, Observation.specimen: collection time is in the future"]


@pytest.mark.parametrize("value", [
    {}, {"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct"}]}}, {"valueString": "  "},
    {"valueQuantity": {"value": 31.5}}, {"dataAbsentReason": {"text": "specimen unsatisfactory"}}])
def test_program_test_without_value(value):
    bundle, _, obs = sample()
    del obs["valueCodeableConcept"]
    obs.update(value)
    assert problems(bundle) == ["entry 2, Observation.value[x]: no result value (valueCodeableConcept or valueString)"]


def test_every_bad_record_is_listed_and_good_ones_still_read():
    bundle, _, obs = sample()
    bundle["entry"] += [entry(observation(subject=None)), entry(observation(identifier=None, effectiveDateTime=None))]
    results, outcome = parse(bundle)
    assert [r.source_ref for r in results] == ["entry 2"]
    assert [p.where for p in outcome.problems] == [
        "entry 3, Observation.subject", "entry 4, Observation.identifier", "entry 4, Observation.effectiveDateTime"]


# --- files that are not valid FHIR -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "what"), [
    (SAMPLE_TEXT[:200], "not valid JSON: Unterminated string starting at (line 9, column 9)"),
    ("", "not valid JSON: Expecting value (line 1, column 1)"),
    ('{"resourceType": "Bundle", "type": NaN}', "not valid JSON"),
    (b"\xff\xfe\x00", "not valid UTF-8 JSON text"),
    ("[]", "not a FHIR Bundle (resourceType must be Bundle)"),
    ('{"resourceType": "Patient"}', "not a FHIR Bundle (resourceType must be Bundle)"),
])
def test_not_json_or_not_a_bundle(text, what):
    results, outcome = parse(text)
    assert results == [] and [(p.where, p.what) for p in outcome.problems] == [("bundle", what)]


def test_validation_problems_name_entry_and_path_but_no_values():
    bundle, patient, obs = sample()
    patient["birthDate"] = "1980-02-30"
    obs["effectiveDateTime"] = "yesterday"
    bundle["entry"] += [{"resource": {"resourceType": "NoSuchThing"}}, "entry", {"fullUrl": 5}]
    bundle["type"] = 7
    results, outcome = parse(bundle)
    assert results == []  # the Observation leans on the invalid Patient: not reported a second time
    assert [str(p) for p in outcome.problems] == [
        "bundle: type: Input should be a valid string",
        "bundle: entry 1, resource.birthDate: Input should be a valid date or datetime, "
        "day value is outside expected range",
        "bundle: entry 2, resource.effectiveDateTime: DateTime value string does not match spec regex.",
        "bundle: entry 3, resource: not a valid FHIR R4 resource",
        "bundle: entry 4: Input should be a valid dictionary or instance of BundleEntry",
        "bundle: entry 5, fullUrl: Input should be a valid string",
    ]


def test_entry_that_is_not_a_list():
    results, outcome = parse({"resourceType": "Bundle", "type": "collection", "entry": {}})
    assert [str(p) for p in outcome.problems] == ["bundle: entry: Input should be a valid list"]


@pytest.mark.parametrize("bundle_type", ["collection", "transaction", "message", "batch", "searchset"])
def test_any_bundle_type(bundle_type):
    bundle, _, _ = sample()
    bundle["type"] = bundle_type
    assert one(bundle).accession == "ACC-21-000377"


# --- never a crash ---------------------------------------------------------------------------------

def check_never_crashes(data: str | bytes | dict) -> None:
    results, outcome = parse(data)
    for result in results:
        assert isinstance(result, LabResult)
        assert result.collected_at.tzinfo is not None and result.collected_at <= NOW
        assert result.result in ("positive", "negative", "inconclusive") and result.accession
        assert result.patient_ids or (result.given_name and result.family_name and result.birth_date)
    # An Observation resource that could yield something must yield a result, a problem or a skip.
    text = json.dumps(data) if isinstance(data, dict) else (
        data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
    observation = re.search(r'"resourceType"\s*:\s*"Observation"', text)
    silent_status = re.search(r'"status"\s*:\s*"(cancelled|entered-in-error|registered)"', text)
    assert results or outcome.problems or outcome.skipped_analytes or not observation or silent_status


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_cut_or_altered_text_never_crashes(data):
    text = data.draw(st.sampled_from([SAMPLE_TEXT, RICH_TEXT]))
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 20)))
    action = data.draw(st.sampled_from(["truncate", "replace", "delete", "insert"]))
    if action == "truncate":
        text = text[:start]
    else:
        filler = "" if action == "delete" else data.draw(st.text(max_size=10))
        text = text[:start] + filler + text[(end if action != "insert" else start):]
    check_never_crashes(text.encode("utf-8", "surrogatepass") if data.draw(st.booleans()) else text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
    | st.sampled_from(["Patient", "Observation", "Bundle", "Specimen", "2021-11-19", "#p", "Patient/pat-1",
                       "urn:uuid:7c1d0f0a-0000-4000-8000-000000000001", "http://loinc.org", "94500-6"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["resourceType", "reference", "value", "code", "system", "coding", "id", "contained",
                         "resource", "identifier", "start", "x"]), inner, max_size=3),
    max_leaves=8)


def paths(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from paths(child, prefix + (key,))



def mutations(base: dict) -> st.SearchStrategy:
    """Up to four (path in base, delete it?, else the JSON value to put there)."""
    return st.lists(st.tuples(st.sampled_from(list(paths(base))[1:]), st.booleans(), json_values),
                    min_size=1, max_size=4)


mutated = st.sampled_from([SAMPLE, RICH]).flatmap(lambda base: st.tuples(st.just(base), mutations(base)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated)
@example((SAMPLE, [(("entry", 1, "resource", "code"), False, None)]))  # fhir.resources accepts a null required element
def test_structurally_mutated_bundles_never_crash(case):
    base, changes = case
    bundle = copy.deepcopy(base)
    for path, delete, value in changes:
        parent = bundle
        for key in path[:-1]:
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):
                break
        else:
            try:
                if delete:
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = value
            except (KeyError, IndexError, TypeError):
                pass
    check_never_crashes(bundle)


def test_bundle_type_must_be_a_bundle_type():
    bundle, _, _ = sample()
    bundle["type"] = "Observation"
    results, outcome = parse(bundle)
    assert [str(p) for p in outcome.problems] == ["bundle: Bundle.type is not a FHIR bundle type"]
