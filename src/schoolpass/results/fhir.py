"""FHIR R4 Bundle (JSON) → LabResults, validated with the `fhir.resources` R4B models.

R4B is wire-compatible with R4 for the resources read here (Bundle, Patient, Observation,
DiagnosticReport, Specimen, Organization). Entries are validated one by one, so a bad entry
is reported with its index and the others are still read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timezone
from typing import Any, BinaryIO, TextIO
from zoneinfo import ZoneInfo

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from schoolpass.results.codes import interpret, program_test_codes
from schoolpass.results.records import LabResult, ParseOutcome, ParseProblem

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CLIA = "urn:oid:2.16.840.1.113883.4.7"
REPORTABLE = {"final": False, "preliminary": False, "corrected": True, "amended": True}  # status → corrected
NOT_A_RESULT = {"cancelled", "entered-in-error", "registered"}  # nothing to report, not counted

# FHIR requires an offset on a time of day; labs sometimes omit it. Such times (in the fields
# read here) are given the district's offset before validation instead of failing it.
_NAIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_LOCAL_TIME_FIELDS = (
    ("effectiveDateTime",), ("effectivePeriod", "start"), ("effectivePeriod", "end"), ("issued",),
    ("collection", "collectedDateTime"), ("collection", "collectedPeriod", "start"),
    ("collection", "collectedPeriod", "end"),
)
# A validation failure is an expected outcome; fhir.resources also raises KeyError/TypeError
# for an unknown resourceType inside `contained`.
_INVALID = (ValueError, TypeError, LookupError, RecursionError)


class _Broken(Exception):
    """The record leans on an entry that failed validation (already reported): skip it quietly."""


_BROKEN = object()


BUNDLE_TYPES = frozenset({"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                          "history", "searchset", "collection"})


def parse_fhir(stream: BinaryIO | TextIO, zone: ZoneInfo, now: datetime, outcome: ParseOutcome,
               test_codes: frozenset[str] | None = None) -> Iterator[LabResult]:
    """Yield one LabResult per program-test Observation; bad records go to outcome.problems."""
    test_codes = program_test_codes() if test_codes is None else test_codes
    if now.tzinfo is None:
        now = now.replace(tzinfo=zone)
    raw = _load_json(stream, outcome)
    entries = _validate(raw, zone, outcome) if raw is not None else []
    bundle = _Index(entries)
    for where, obs, container, report in bundle.observations():
        try:
            result = _read_observation(where, obs, container, report, bundle, zone, now, outcome, test_codes)
        except _Broken:
            continue
        if result is not None:
            yield result


def _load_json(stream: BinaryIO | TextIO, outcome: ParseOutcome) -> Any:
    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    data = stream.read()
    if isinstance(data, str):
        data = data.removeprefix("\ufeff")
    try:
        return json.loads(data, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        what = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except UnicodeDecodeError:
        what = "not valid UTF-8 JSON text"
    except (ValueError, RecursionError) as exc:
        what = "not valid JSON" + (" (nested too deeply)" if isinstance(exc, RecursionError) else "")
    outcome.problems.append(ParseProblem("bundle", what))
    return None


def _validate(raw: Any, zone: ZoneInfo, outcome: ParseOutcome) -> list[tuple[int, Any, Any, Any]]:
    """[(entry number, fullUrl, validated resource or _BROKEN, raw resource)]; failures are reported."""
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        outcome.problems.append(ParseProblem("bundle", "not a FHIR Bundle (resourceType must be Bundle)"))
        return []
    try:
        Bundle.model_validate({k: v for k, v in raw.items() if k != "entry"})
    except _INVALID as exc:
        _report(outcome, exc)
    kind = raw.get("type")
    if isinstance(kind, str) and kind not in BUNDLE_TYPES:  # fhir.resources does not check this binding
        outcome.problems.append(ParseProblem("bundle", "Bundle.type is not a FHIR bundle type"))
    raw_entries = raw.get("entry", [])
    if not isinstance(raw_entries, list):
        outcome.problems.append(ParseProblem("bundle", "entry: Input should be a valid list"))
        return []
    entries = []
    for number, raw_entry in enumerate(raw_entries, 1):
        try:
            entry = BundleEntry.model_validate(
                {k: v for k, v in raw_entry.items() if k != "resource"} if isinstance(raw_entry, dict) else raw_entry)
        except _INVALID as exc:
            _report(outcome, exc, number)
            continue
        raw_resource = raw_entry.get("resource")
        if raw_resource is None:
            continue  # e.g. a transaction DELETE
        try:
            resource = _resource_model(raw_resource).model_validate(_localize_times(raw_resource, zone))
        except _INVALID as exc:
            _report(outcome, exc, number, "resource")
            resource = _BROKEN
        entries.append((number, entry.fullUrl, resource, raw_resource))
    return entries


def _report(outcome: ParseOutcome, exc: Exception, entry: int | None = None, root: str = "") -> None:
    """One "bundle" problem per validation error, naming its path (pydantic messages carry no values)."""
    if isinstance(exc, ValidationError):
        errors = [(error["loc"], error["msg"].removeprefix("Value error, "))
                  for error in exc.errors(include_url=False, include_input=False)]
    else:
        errors = [((), "not a valid FHIR R4 resource")]
    for loc, message in errors:
        path = (root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)).lstrip(".")
        where = ", ".join(part for part in (f"entry {entry}" if entry else "", path) if part)
        outcome.problems.append(ParseProblem("bundle", f"{where or 'Bundle'}: {message}"))


def _resource_model(raw: Any) -> type[Resource]:
    kind = raw.get("resourceType") if isinstance(raw, dict) else None
    model = get_fhir_model_class(kind) if isinstance(kind, str) and kind.isalpha() else None
    if model is None or not issubclass(model, Resource):
        raise TypeError("not a resource")
    return model


def _localize_times(resource: dict, zone: ZoneInfo) -> dict:
    for path in _LOCAL_TIME_FIELDS:
        holder: Any = resource
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        value = holder.get(path[-1]) if isinstance(holder, dict) else None
        if isinstance(value, str) and _NAIVE_TIME.fullmatch(value):
            try:
                holder[path[-1]] = datetime.fromisoformat(value).replace(tzinfo=zone).isoformat()
            except ValueError:
                pass  # an impossible date: validation reports it
    contained = resource.get("contained")
    for inner in contained if isinstance(contained, list) else ():
        if isinstance(inner, dict):
            _localize_times(inner, zone)
    return resource


class _Index:
    """The bundle's resources, found by fullUrl, by Type/id, and Observation → its DiagnosticReport."""

    def __init__(self, entries: list[tuple[int, str | None, Any, Any]]) -> None:
        self.entries = entries
        self.by_url: dict[str, Any] = {}
        self.by_type_id: dict[tuple[str, str], Any] = {}
        for _, url, resource, raw in entries:
            kind, rid = (raw.get("resourceType"), raw.get("id")) if isinstance(raw, dict) else (None, None)
            if url:
                self.by_url.setdefault(url, resource)
            if isinstance(kind, str) and isinstance(rid, str):
                key = (kind, rid)
                self.by_type_id[key] = None if key in self.by_type_id else resource  # ambiguous: None
        self.report_of: dict[int, Any] = {}
        for _, _, resource, _ in entries:
            if _kind(resource) == "DiagnosticReport":
                for ref in resource.result or ():
                    try:
                        obs = self.resolve(ref, resource, "Observation")
                    except _Broken:
                        continue
                    if obs is not None:
                        self.report_of.setdefault(id(obs), resource)

    def observations(self) -> Iterator[tuple[str, Any, Any, Any]]:
        """(where, Observation, its container for #refs, its DiagnosticReport), each Observation once."""
        for number, _, resource, _ in self.entries:
            if _kind(resource) == "Observation":
                yield f"entry {number}", resource, resource, self.report_of.get(id(resource))
            elif _kind(resource) == "DiagnosticReport":
                seen = set()
                for ref in resource.result or ():
                    if ref.reference and ref.reference.startswith("#") and ref.reference not in seen:
                        seen.add(ref.reference)
                        obs = _contained(resource, ref.reference[1:])
                        if _kind(obs) == "Observation":
                            yield f"entry {number}, contained {ref.reference}", obs, resource, resource

    def resolve(self, ref: Any, container: Any, kind: str) -> Any:
        """The resource of type `kind` a Reference points to, or None; _Broken if it failed validation."""
        target = getattr(ref, "reference", None)
        if not target:
            return None
        if target.startswith("#"):
            found = _contained(container, target[1:])
        elif target in self.by_url or ":" in target:  # absolute: only a fullUrl in the bundle
            found = self.by_url.get(target)
        else:  # relative, "Patient/pat-1[/_history/2]"
            parts = target.split("/_history/")[0].rstrip("/").split("/")
            found = self.by_type_id.get((parts[-2], parts[-1])) if len(parts) >= 2 else None
        if found is _BROKEN:
            raise _Broken
        return found if _kind(found) == kind else None


def _kind(resource: Any) -> str | None:
    return resource.get_resource_type() if isinstance(resource, Resource) else None


def _contained(container: Any, rid: str) -> Any:
    return next((c for c in getattr(container, "contained", None) or () if c.id == rid), None)


def _read_observation(where: str, obs: Any, container: Any, report: Any, bundle: _Index, zone: ZoneInfo,
                      now: datetime, outcome: ParseOutcome, test_codes: frozenset[str]) -> LabResult | None:
    if obs.status in NOT_A_RESULT:
        return None
    codings = obs.code.coding or () if obs.code else ()  # fhir.resources lets `"code": null` through
    test_code = next((c.code for c in codings if c.system == LOINC and c.code in test_codes), None)
    if test_code is None:
        outcome.skipped_analytes += 1
        return None
    if obs.hasMember and obs.valueCodeableConcept is None and obs.valueString is None:
        return None  # a panel header: its members are read on their own

    problems: list[ParseProblem] = []

    def bad(field: str, what: str) -> None:
        problems.append(ParseProblem(f"{where}, Observation.{field}" if field else where, what))

    if obs.status not in REPORTABLE:
        bad("status", "status is not final, preliminary, corrected or amended")

    patient = bundle.resolve(obs.subject, container, "Patient")
    ids: tuple[str, ...] = ()
    given = family = birth_date = None
    if patient is None:
        bad("subject", "no subject" if obs.subject is None or not obs.subject.reference
            else "subject does not reference a Patient in the bundle")
    else:
        ids = tuple(dict.fromkeys(i.value for i in patient.identifier or () if i.value))
        name = patient.name[0] if patient.name else None
        family = name.family if name else None
        given = name.given[0] if name and name.given else None
        birth_date = patient.birthDate if isinstance(patient.birthDate, date) else None  # not "1980"
        if not ids and not (given and family and birth_date):
            bad("subject", "the Patient has no identifier, and no full name and birth date")

    specimen = bundle.resolve(obs.specimen, container, "Specimen")
    if specimen is None and report is not None and report.specimen:
        specimen = bundle.resolve(report.specimen[0], report, "Specimen")
    accession = _first_value(obs.identifier) or _first_value(report.identifier if report else None) or (
        specimen.accessionIdentifier.value if specimen and specimen.accessionIdentifier else None)
    if not accession:
        bad("identifier", "no accession number (Observation, DiagnosticReport or Specimen identifier)")

    collection = specimen.collection if specimen else None
    field, when = next(((f, v) for f, v in (
        ("effectiveDateTime", obs.effectiveDateTime),
        ("effectiveInstant", obs.effectiveInstant),
        ("effectivePeriod.start", obs.effectivePeriod.start if obs.effectivePeriod else None),
        ("specimen", collection.collectedDateTime if collection else None),
        ("specimen", collection.collectedPeriod.start if collection and collection.collectedPeriod else None),
    ) if v is not None), ("effectiveDateTime", None))
    collected_at = _aware(when, zone)
    if when is None:
        bad("effectiveDateTime", "no collection time (Observation.effective[x] or Specimen.collection)")
    elif collected_at is None:
        bad(field, "collection time gives only a year or month")
    elif collected_at > now:
        bad(field, "collection time is in the future")

    code = text = None
    if obs.valueCodeableConcept is not None:
        codings = [c for c in obs.valueCodeableConcept.coding or () if c.code or c.display]
        coding = next((c for c in codings if c.system == SNOMED and c.code), codings[0] if codings else None)
        code = coding.code if coding else None
        text = (coding.display if coding else None) or obs.valueCodeableConcept.text
    elif obs.valueString is not None:
        text = obs.valueString
    if not code and not (text and text.strip()):
        bad("value[x]", "no result value (valueCodeableConcept or valueString)")

    if problems:
        outcome.problems.extend(problems)
        return None
    return LabResult(
        source_ref=where, patient_ids=ids, given_name=given, family_name=family, birth_date=birth_date,
        accession=accession, performing_lab=_performing_lab(obs, container, bundle), test_code=test_code,
        result=interpret(code, text), result_code=code, result_text=text, collected_at=collected_at,
        resulted_at=_aware(obs.issued, zone), corrected=REPORTABLE[obs.status],
    )


def _first_value(identifiers: Any) -> str | None:
    return next((i.value for i in identifiers or () if i.value), None)


def _performing_lab(obs: Any, container: Any, bundle: _Index) -> str:
    """The CLIA number of a performing Organization, else its first identifier, else ""."""
    identifiers = []
    for ref in obs.performer or ():
        org = bundle.resolve(ref, container, "Organization")
        if org is not None:
            identifiers += org.identifier or []
        elif ref.identifier is not None:  # a logical reference to the lab
            identifiers.append(ref.identifier)
    clia = next((i.value for i in identifiers if i.system == CLIA and i.value), None)
    return clia or _first_value(identifiers) or ""


def _aware(value: Any, zone: ZoneInfo) -> datetime | None:
    """A FHIR dateTime as an aware datetime: a date alone is local midnight; "2021"/"2021-11" → None."""
    if isinstance(value, datetime):  # pydantic's TzInfo → a plain datetime.timezone
        return value.replace(tzinfo=timezone(value.utcoffset())) if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=zone)
    return None
