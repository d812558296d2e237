"""Synthetic weekly screening results for a synthetic district.

Reads the people (students and staff) of a OneRoster export written by
:mod:`schoolpass.synth.roster` and writes, for each school day, the results
of that day's school-based testing as lab files:

- ``DATE.csv``  SimpleReport bulk-upload CSV (~60% of the records),
- ``DATE.hl7``  HL7 v2.5.1 ORU^R01, one message per result (~30%),
- ``DATE.json`` one FHIR R4 ``collection`` Bundle, Patient + Observation per result (~10%).

``DATE`` is the testing day: a file holds the results of specimens collected
on DATE (lab RNA results carry a result time 1-2 days later, antigen results
30 minutes later), followed by re-sent duplicates and corrections of earlier
results. A format's file is not written for a day without records in it.

Every school tests all its students and staff on one weekday; ~90% take part
each week (a few people never do). Positive people are not tested again for
90 days. The messy cases an importer must handle (unknown people, ids that
lost their leading zeros, no id, swapped twin ids, case/accent variants,
exact duplicates, corrections, flu analytes in multiplex panels, one
accession number used by two labs) are all counted in :class:`ResultsStats`.

Deterministic: same roster, weeks, seed and start give byte-identical files.
Memory: one small tuple per person, a few dicts for exempt people.
"""

from __future__ import annotations

import csv
import hashlib
import unicodedata
from array import array
from bisect import bisect, bisect_left
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter
from sys import intern
from pathlib import Path
from random import Random
from typing import Callable

from schoolpass.roster.names import fold_name

from . import names
from .result_formats import (
    ANTIGEN_LABS, FHIR_BUNDLE_CLOSE, LABS, RESULT_TEXTS, RNA_LABS, SIMPLEREPORT_HEADER,
    Record, Renderer, Site, fhir_bundle_open, shift,
)

__all__ = ["ResultsStats", "write_results", "SIMPLEREPORT_HEADER"]

# ------------------------------------------------------------------ the rates
OPT_OUT = 0.04  # people who never take part
ABSENT = 0.06  # of the others, missing a given week  (-> ~90% weekly participation)
POSITIVITY = 0.0125  # weekly base rate, varied per school (x0.6-1.5) and per week (x0.85-1.15)
STAFF_POSITIVITY = 0.7  # staff relative to students
INCONCLUSIVE = 0.003
RETEST_INCONCLUSIVE = 0.6  # retested the next school day (if there is one)
EXEMPT_DAYS = 90
P_UNKNOWN = 0.005  # extra results of people not in the roster, per result
P_NO_ID = 0.002
P_STRIP_ZEROS = 0.05  # of results of people whose identifier has leading zeros (~10% of students)
P_TWIN_SWAP = 0.05  # of results of a twin: the other twin's id
P_NAME_VARIANT = 0.03
P_DUPLICATE = 0.003
P_CORRECT = {"N": 0.0007, "P": 0.03, "I": 0.05}  # ~0.1% of all results
P_SHARED_ACCESSION = 0.0005  # an RNA lab's accession number that another lab used too
P_CSV_TEXT = 0.15
_MESSY_ID = P_NO_ID + P_STRIP_ZEROS + P_TWIN_SWAP
FORMAT_CUM = (0.6, 0.9, 1.0)  # csv, hl7, fhir
FORMATS = ("csv", "hl7", "fhir")
SUFFIX = {"csv": "csv", "hl7": "hl7", "fhir": "json"}
ANTIGEN_SHARE = 0.25  # schools testing on site with antigen cards
CONTACT_ROLES = frozenset({"parent", "guardian", "relative"})
_RACE_COLUMNS = ("americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
                 "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces")
_STREETS = ("Main St", "Broadway", "Figueroa St", "Vermont Ave", "Western Ave", "Hoover St",
            "Olympic Blvd", "Pico Blvd", "Sunset Blvd", "Santa Monica Blvd", "Venice Blvd",
            "Washington Blvd", "Jefferson Blvd", "Slauson Ave", "Florence Ave", "Manchester Ave",
            "Central Ave", "Alameda St", "Soto St", "Cesar Chavez Ave", "Whittier Blvd",
            "Eagle Rock Blvd", "York Blvd", "Colorado Blvd", "Van Nuys Blvd", "Sepulveda Blvd",
            "Reseda Blvd", "Roscoe Blvd", "Sherman Way", "Victory Blvd", "Laurel Canyon Blvd")
_ZIPS = ("90001", "90002", "90003", "90011", "90016", "90018", "90019", "90022", "90023", "90026",
         "90031", "90032", "90033", "90037", "90042", "90044", "90057", "90063", "90065",
         "91331", "91340", "91342", "91352", "91402", "91405", "91406", "91605")

# Person tuple fields.
IDENT, GIVEN, MIDDLE, FAMILY, BIRTH, SEX, RACE, OPTED_OUT, STAFF = range(9)


@dataclass(frozen=True)
class ResultsStats:
    """What was written. Counts of kinds are of distinct results (before duplicates), unless noted.

    After importing every file: stored results = ``results - duplicates - corrections``
    (= ``distinct``); ``positives``/``negatives``/``inconclusive`` are the stored values
    (corrections applied); ``unknown_people + ambiguous_names`` results go to the
    unmatched queue; every other distinct result matches exactly one roster person,
    except ``no_roster_birth_date`` results (id and names agree, the roster has no birth
    date to compare the lab's with): schoolpass does not take an unconfirmed id match,
    so they wait in the queue for staff too.
    """

    results: int  # records written: CSV rows + HL7 messages + FHIR Observations
    by_format: dict[str, int]  # records per format: csv, hl7, fhir
    positives: int
    unknown_people: int  # not in the roster (ids and names): unmatched
    stripped_zero_ids: int  # id lost its leading zeros, name + birth date right: match by name
    no_id: int  # no district id (CSV/FHIR: none; HL7: only the lab's own PI number): match by name
    duplicates: int  # records repeating an earlier record exactly (same lab, accession, test code)
    corrections: int  # records with status corrected that change an earlier result
    flu_analytes: int  # influenza OBX segments written (skipped by an importer)
    days: int  # school days covered (Mon-Fri)
    distinct: int = 0  # distinct (lab, accession, test code) keys
    negatives: int = 0
    inconclusive: int = 0  # incl. CSV "invalid result"
    twin_swapped_ids: int = 0  # a twin's result carrying the other twin's id: match by name
    ambiguous_names: int = 0  # no/stripped/twin id and a name + birth date two people share: unmatched
    name_variants: int = 0  # names upper/lower-cased or accents stripped: match (folded)
    text_results: int = 0  # CSV records with a text result instead of a SNOMED code
    shared_accessions: int = 0  # accession numbers also used by another lab (other lab = other result)
    no_roster_birth_date: int = 0  # id and names agree but the roster has no birth date: they wait for staff
    retests: int = 0  # retests the school day after an inconclusive result
    files: int = 0
    by_day: dict[str, int] = field(default_factory=dict)  # records per file date


# ------------------------------------------------------------------ name folds
# The contract's fold (case and accents), as the importer applies it.
fold = fold_name

_LOOSE = str.maketrans({"đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "ł": "l", "ı": "i"})


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=None)
def _loose(text: str) -> str:
    """Coarser than any reasonable importer fold: for the 'exactly one person' checks."""
    return "".join(c for c in fold(text).translate(_LOOSE) if c.isalnum())


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _key(given: str, family: str, birth: str, folded: Callable[[str], str] = _loose) -> int:
    """A 64-bit digest of the folded (given, family, birth date).

    With the loose fold: unique here = unique anywhere. With the contract's fold
    (`_std_key`): shared here = ambiguous for any importer.
    """
    return _digest(f"{folded(given)}|{folded(family)}|{birth}")


def _std_key(given: str, family: str, birth: str) -> int:
    return _key(given, family, birth, fold)


# --------------------------------------------------------------- roster input
def _rows(path: Path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        yield {name: i for i, name in enumerate(header)}
        yield from reader


def _load(roster_dir: Path, rng: Random):
    """Schools (sourcedId, name) and people grouped by school, plus lookup structures."""
    rows = _rows(roster_dir / "orgs.csv")
    col = next(rows)
    schools: list[tuple[str, str]] = []
    c_status = col.get("status")
    for row in rows:
        if row[col["type"]] == "school" and (c_status is None or row[c_status] != "tobedeleted"):
            schools.append((row[col["sourcedId"]], row[col["name"]]))
    school_ix = {sid: i for i, (sid, _) in enumerate(schools)}

    interned: dict = {}
    demo: dict[str, tuple] = {}
    path = roster_dir / "demographics.csv"
    if path.exists():
        rows = _rows(path)
        col = next(rows)
        c_sid, c_birth = col["sourcedId"], col["birthDate"]
        # sex, the race columns, ethnicity (absent columns read as "")
        wanted = [col.get(c) for c in ("sex", *_RACE_COLUMNS, "hispanicOrLatinoEthnicity")]
        present = [c for c in wanted if c is not None]
        pick = itemgetter(*present) if len(present) > 1 else (lambda row: (row[present[0]],)) \
            if present else (lambda row: ())
        slots = [i for i, c in enumerate(wanted) if c is not None]
        coded: dict[tuple, tuple[str, int]] = {}
        c_status = col.get("status")
        for row in rows:
            if c_status is not None and row[c_status] == "tobedeleted":
                continue
            got = pick(row)
            code = coded.get(got)
            if code is None:
                values = [""] * len(wanted)
                for slot, value in zip(slots, got):
                    values[slot] = value.strip().lower()
                race = next((i + 1 for i, v in enumerate(values[1:7]) if v == "true"), 0)
                code = coded[got] = ("F" if values[0].startswith("f") else "M",
                                     race * 2 + (values[7] == "true"))
            value = (row[c_birth], *code)
            demo[row[c_sid]] = interned.setdefault(value, value)

    members: list[list[tuple]] = [[] for _ in schools]
    idents: set[str] = set()
    twin_of: dict[str, str] = {}
    keys, std_keys = array("Q"), array("Q")
    rows = _rows(roster_dir / "users.csv")
    col = next(rows)
    c_sid, c_role, c_orgs = col["sourcedId"], col["role"], col["orgSourcedIds"]
    c_given, c_family, c_ident = col["givenName"], col["familyName"], col["identifier"]
    c_middle, c_status = col.get("middleName"), col.get("status")
    no_demo = ("", "M", 0)
    prev = None
    for row in rows:
        role = row[c_role]
        if role in CONTACT_ROLES or role.startswith("ext:"):
            continue
        if c_status is not None and row[c_status] == "tobedeleted":
            continue
        ident = row[c_ident] or row[c_sid]
        if ident in idents:  # not expected in a synthetic roster; keep ids unique
            continue
        orgs = row[c_orgs].split(",")
        ix = next((school_ix[o] for o in orgs if o in school_ix), None)
        if ix is None:
            continue
        birth, sex, race = demo.get(row[c_sid], no_demo)
        given, family = intern(row[c_given]), intern(row[c_family])
        middle = intern(row[c_middle]) if c_middle is not None else ""
        staff = role != "student"
        person = (ident, given, middle, family, birth, sex, race, rng.random() < OPT_OUT, staff)
        members[ix].append(person)
        idents.add(ident)
        if birth:
            keys.append(_key(given, family, birth))
            std_keys.append(_std_key(given, family, birth))
        if not staff and prev is not None and birth and prev[BIRTH] == birth and prev[FAMILY] == family:
            twin_of[ident], twin_of[prev[IDENT]] = prev[IDENT], ident
        prev = None if staff else person
    demo.clear()
    keys = array("Q", sorted(keys))
    ambiguous = {keys[i] for i in range(1, len(keys)) if keys[i] == keys[i - 1]}
    std_keys = sorted(std_keys)
    shared = {std_keys[i] for i in range(1, len(std_keys)) if std_keys[i] == std_keys[i - 1]}
    return schools, members, idents, twin_of, keys, ambiguous, shared


# ------------------------------------------------------------------ generator
class _Files:
    """The open files of one day, opened on first use."""

    def __init__(self, out_dir: Path, day: date):
        self.out_dir, self.day = out_dir, day
        self.fh: dict[str, object] = {}
        self.csv_writer = None
        self.first_fhir = True
        self.count = {f: 0 for f in FORMATS}

    def open(self, fmt: str):
        fh = self.fh.get(fmt)
        if fh is None:
            path = self.out_dir / f"{self.day.isoformat()}.{SUFFIX[fmt]}"
            fh = self.fh[fmt] = open(path, "w", encoding="utf-8", newline="", buffering=1 << 20)
            if fmt == "csv":
                self.csv_writer = csv.writer(fh, lineterminator="\r\n")
                self.csv_writer.writerow(SIMPLEREPORT_HEADER)
            elif fmt == "fhir":
                fh.write(fhir_bundle_open(f"pcusd-results-{self.day.isoformat()}"))
        return fh

    def close(self) -> int:
        for fmt, fh in self.fh.items():
            if fmt == "fhir":
                fh.write(FHIR_BUNDLE_CLOSE)
            fh.close()
        return len(self.fh)


class _Generator:
    def __init__(self, roster_dir: Path, out_dir: Path, weeks: int, seed: int, start: date, progress):
        self.rng = rng = Random(f"schoolpass-results:{seed}")
        self.out_dir = out_dir
        self.progress = progress
        self.days = [start + timedelta(days=i) for i in range(7 * weeks)
                     if (start + timedelta(days=i)).weekday() < 5]
        (schools, self.members, self.idents, self.twin_of, self.keys,
         self.ambiguous, self.shared_names) = _load(roster_dir, rng)
        self.plan_sites(schools)
        self.render = Renderer(self.sites, names.DISTRICT_CODE,
                               "5c4f1d2e-%04x-4000-8000" % (seed & 0xFFFF))
        self.week_factor = [rng.uniform(0.85, 1.15) for _ in range(weeks)]
        self.exempt: dict[str, int] = {}  # ident -> first ordinal to be tested again
        self.acc_serial = [0] * len(LABS)
        self.last_acc: list[str] = [""] * len(LABS)
        self.shared_used: set[tuple[int, str]] = set()
        self.order_serial = 0
        self.ctrl_serial = 0
        self.later: dict[int, list] = {}  # day index -> [(fmt, record, kind)]
        self.retest: dict[int, list] = {}  # day index -> [(person, site)]
        self.groups = tuple(names.GROUPS)
        self.group_cum = tuple(accumulate(g.family_weight for g in names.GROUPS))
        self.c = dict(records=0, csv=0, hl7=0, fhir=0, P=0, N=0, I=0, unknown=0, stripped=0, no_id=0,
                      twin=0, ambiguous=0, variants=0, text=0, shared=0, no_birth=0, retests=0, duplicates=0,
                      corrections=0, flu=0, files=0)
        self.by_day: dict[str, int] = {}
        self.files: _Files | None = None
        self.yy = ""  # two-digit year of the day being written (accession numbers)

    # ------------------------------------------------------------- planning
    def plan_sites(self, schools: list[tuple[str, str]]) -> None:
        rng = self.rng
        n = len(schools)
        order = list(range(n))
        rng.shuffle(order)
        n_antigen = round(n * ANTIGEN_SHARE) if n >= 2 else 0
        n_antigen = max(n_antigen, 1 if n >= 2 else 0)
        weekday = [0] * n
        labs = [0] * n
        for rank, ix in enumerate(order):
            weekday[ix] = rank % 5
            if rank < n_antigen:
                labs[ix] = ANTIGEN_LABS[rank % len(ANTIGEN_LABS)]
            else:
                labs[ix] = RNA_LABS[(rank - n_antigen) % len(RNA_LABS)]
        self.sites, self.start_minute, self.pos_factor = [], [], []
        self.by_weekday: list[list[int]] = [[] for _ in range(5)]
        for ix, (_, name) in enumerate(schools):
            grp = self.rng.choice(names.GROUPS)
            self.sites.append(Site(
                name=name,
                street=f"{rng.randrange(100, 9900)} {rng.choice(_STREETS)}",
                zip_code=rng.choice(_ZIPS),
                phone=f"{rng.choice(names.AREA_CODES)}-555-01{rng.randrange(100):02d}",
                provider_npi=f"1{rng.randrange(10**9):09d}",
                provider_family=rng.choice(grp.family),
                provider_given=rng.choice(grp.female + grp.male),
                lab=labs[ix],
            ))
            self.start_minute.append(rng.randrange(7 * 60 + 30, 10 * 60 + 1, 15))
            self.pos_factor.append(rng.uniform(0.6, 1.5))
            self.by_weekday[weekday[ix]].append(ix)

    # --------------------------------------------------------------- output
    def emit(self, fmt: str, rec: Record) -> None:
        files = self.files
        fh = files.open(fmt)
        if fmt == "csv":
            files.csv_writer.writerow(self.render.csv_row(rec))
            self.c["text"] += bool(rec.text)
        elif fmt == "hl7":
            fh.write(self.render.hl7_message(rec))
            self.c["flu"] += bool(rec.flu)
        else:
            if files.first_fhir:
                files.first_fhir = False
            else:
                fh.write(",\n")
            fh.write(self.render.fhir_entries(rec))
        files.count[fmt] += 1
        self.c[fmt] += 1
        self.c["records"] += 1

    # ------------------------------------------------------------ one result
    def accession(self, lab: int) -> str:
        n = self.acc_serial[lab] = self.acc_serial[lab] + 1
        acc = f"{LABS[lab].accession_prefix}-{self.yy}-{n:07d}"
        self.last_acc[lab] = acc
        return acc

    def times(self, lab: int, ordinal: int, start: int):
        """Collection, received, result and message times."""
        r = self.rng.random
        coll = (ordinal, start + int(r() * 181))
        if LABS[lab].test_code == "94558-4":
            res = shift(coll, 30)
            recv = coll
        else:
            recv = shift(coll, 120 + int(r() * 181))
            res = (ordinal + 1 + (r() < 0.4), 300 + int(r() * 1080))
        return coll, recv, res, shift(res, 5 + int(r() * 116))

    def record(self, site: int, ordinal: int, value: str, pid: str, given: str, middle: str,
               family: str, dob: str, sex: str, race: int, fmt: str, person_no: int) -> Record:
        rng = self.rng
        r = rng.random
        lab = self.sites[site].lab
        info = LABS[lab]
        coll, recv, res, sent = self.times(lab, ordinal, self.start_minute[site])
        self.order_serial += 1
        self.ctrl_serial += 1
        acc = None
        if info.test_code != "94558-4" and fmt != "fhir" and r() < P_SHARED_ACCESSION:
            other = [i for i in RNA_LABS if i != lab and self.last_acc[i]
                     and (lab, self.last_acc[i]) not in self.shared_used]
            if other:
                acc = self.last_acc[rng.choice(other)]
                self.shared_used.add((lab, acc))
                self.c["shared"] += 1
        if acc is None:
            acc = self.accession(lab)
        text = ""
        if fmt == "csv" and r() < P_CSV_TEXT:
            text = RESULT_TEXTS[info.coding, value]
            x = r()
            if x < 0.05:
                text = text.upper()
            elif x < 0.10:
                text = text.lower()
        flu = flu_value = 0
        if fmt == "hl7" and info.multiplex and r() < info.multiplex:
            flu = 1 if r() < 0.5 else 2
            x = r()
            flu_value = "P" if x < 0.01 else "I" if x < 0.012 else "N"
        # The lab's own patient number: sent by labs that always do, and by every lab in place
        # of a missing district id (HL7 PID-3 is never empty).
        mrn = f"{info.mrn_prefix or info.accession_prefix + 'P'}{person_no:010d}" \
            if info.mrn_prefix or not pid else ""
        return Record(pid, mrn, given, middle, family, dob, sex, race, site, lab, value, text,
                      coll, recv, res, sent, "F", acc, f"ORD{self.order_serial:09d}",
                      f"{info.accession_prefix}{self.ctrl_serial:010d}", flu, flu_value)

    def pick_format(self) -> str:
        return FORMATS[bisect(FORMAT_CUM, self.rng.random())]

    def after(self, day_ix: int, fmt: str, rec: Record, person) -> None:
        """Maybe schedule an exact duplicate and/or a correction of a fresh record."""
        rng = self.rng
        r = rng.random
        if r() < P_DUPLICATE:
            target = day_ix if (r() < 0.5 or day_ix + 1 >= len(self.days)) else day_ix + 1
            dup_fmt = fmt
            if fmt != "fhir" and r() < 0.4:
                dup_fmt = "hl7" if fmt == "csv" else "csv"
            self.later.setdefault(target, []).append((dup_fmt, rec, "dup"))
        elif r() < P_CORRECT[rec.value]:
            target = day_ix + rng.randrange(3, 6)
            if target >= len(self.days):
                return
            new = rec.copy()
            if rec.value == "N":
                new.value = "P"
            elif rec.value == "P":
                new.value = "N"
            else:
                new.value = "P" if r() < 0.3 else "N"
            new.status = "C"
            if new.text:
                new.text = RESULT_TEXTS[LABS[new.lab].coding, new.value]
            new.res = (self.days[target].toordinal(), rng.randrange(9 * 60, 17 * 60))
            new.sent = shift(new.res, rng.randrange(5, 61))
            self.ctrl_serial += 1
            new.ctrl = f"{LABS[new.lab].accession_prefix}{self.ctrl_serial:010d}"
            self.later.setdefault(target, []).append((fmt, new, "fix"))
            self.c[rec.value] -= 1
            self.c[new.value] += 1
            if person is not None:
                ident = person[IDENT]
                if new.value == "P":
                    self.exempt[ident] = rec.coll[0] + EXEMPT_DAYS
                elif rec.value == "P" and self.exempt.get(ident) == rec.coll[0] + EXEMPT_DAYS:
                    del self.exempt[ident]  # a false positive: back to weekly testing

    def test_person(self, person, person_no: int, site: int, day_ix: int, ordinal: int,
                    pos_rate: float) -> None:
        rng = self.rng
        r = rng.random
        u = r()
        if person[STAFF]:
            u /= STAFF_POSITIVITY
        value = "P" if u < pos_rate else "I" if u < pos_rate + INCONCLUSIVE else "N"
        ident, given, middle, family, birth = person[:5]
        pid = ident
        m = r()
        if m < _MESSY_ID and birth:
            kind = ""
            if m < P_NO_ID:
                kind = "no_id"
            elif m < P_NO_ID + P_STRIP_ZEROS:
                if ident[0] == "0" and ident.lstrip("0"):
                    kind = "stripped"
            elif ident in self.twin_of:
                kind = "twin"
            if kind:
                if _key(given, family, birth) not in self.ambiguous:
                    self.c[kind] += 1  # name + birth date fit this person only: matched by name
                elif _std_key(given, family, birth) in self.shared_names:
                    self.c["ambiguous"] += 1  # they fit two or more people: unmatched
                else:
                    kind = ""  # fit one person or more depending on the fold: left out
            if kind:
                pid = "" if kind == "no_id" else self.twin_of[ident] if kind == "twin" else ident.lstrip("0")
        if r() < P_NAME_VARIANT:
            given, middle, family = self.variant(given, middle, family)
        if not birth:
            self.c["no_birth"] += 1
            birth = date.fromordinal(date(2004, 9, 2).toordinal() + rng.randrange(12 * 365)).isoformat()
        fmt = self.pick_format()
        rec = self.record(site, ordinal, value, pid, given, middle, family, birth, person[SEX],
                          person[RACE], fmt, person_no)
        self.emit(fmt, rec)
        self.c[value] += 1
        if value == "P":
            self.exempt[ident] = ordinal + EXEMPT_DAYS
        elif value == "I" and day_ix + 1 < len(self.days) and r() < RETEST_INCONCLUSIVE:
            self.retest.setdefault(day_ix + 1, []).append((person, person_no, site))
        self.after(day_ix, fmt, rec, person)

    def variant(self, given: str, middle: str, family: str) -> tuple[str, str, str]:
        """The same name as some labs write it, equal once case and accents are folded."""
        x = self.rng.random()
        full = f"{given}{middle}{family}"
        if full.isascii():
            change = str.upper if x < 0.7 else str.lower
        elif x < 0.3:
            change = str.upper
        elif x < 0.6:
            def change(s): return _strip_accents(s).upper()
        elif x < 0.9:
            change = _strip_accents
        else:
            change = str.lower
        out = (change(given), change(middle), change(family))
        ok = all(fold(a) == fold(b) for a, b in zip(out, (given, middle, family))) and \
            (change is str.upper or change is str.lower or "".join(out).isascii())
        if not ok or out == (given, middle, family):
            return given, middle, family
        self.c["variants"] += 1
        return out

    def unknown_person(self, site: int, day_ix: int, ordinal: int, pos_rate: float) -> None:
        """Someone tested at a school site who is not in the roster (ids and names unknown)."""
        rng = self.rng
        r = rng.random
        keys = self.keys
        while True:
            grp = self.groups[bisect(self.group_cum, r() * self.group_cum[-1])]
            female = r() < 0.5
            given = rng.choice(grp.female if female else grp.male)
            family = rng.choice(grp.family)
            birth = date.fromordinal(date(1955, 1, 1).toordinal() + rng.randrange(60 * 365)).isoformat()
            k = _key(given, family, birth)
            i = bisect_left(keys, k)
            if i < len(keys) and keys[i] == k:
                continue
            pid = ""
            if r() < 0.8:
                pid = f"{rng.randrange(10**9):09d}"
                if pid in self.idents:
                    continue
            break
        u = r()
        value = "P" if u < pos_rate else "I" if u < pos_rate + INCONCLUSIVE else "N"
        race = next((i + 1 for i, flag in enumerate(grp.race[:6]) if flag == "true"), 0)
        fmt = self.pick_format()
        rec = self.record(site, ordinal, value, pid, given, "", family, birth, "F" if female else "M",
                          race * 2 + (grp.race[6] == "true"), fmt, (1 << 40) + self.c["unknown"])
        self.emit(fmt, rec)
        self.c["unknown"] += 1
        self.c[value] += 1
        self.after(day_ix, fmt, rec, None)

    # ------------------------------------------------------------------ run
    def run(self) -> ResultsStats:
        rng = self.rng
        for day_ix, day in enumerate(self.days):
            self.files = _Files(self.out_dir, day)
            self.yy = f"{day.year % 100:02d}"
            ordinal = day.toordinal()
            week = (ordinal - self.days[0].toordinal()) // 7
            wf = self.week_factor[min(week, len(self.week_factor) - 1)]
            exempt = self.exempt
            r = rng.random
            for site in self.by_weekday[day.weekday()]:
                pos_rate = POSITIVITY * wf * self.pos_factor[site]
                members = self.members[site]
                base = site << 24
                for n, person in enumerate(members):
                    if person[OPTED_OUT]:
                        continue
                    until = exempt.get(person[IDENT])
                    if until is not None and ordinal < until:
                        continue
                    if r() < ABSENT:
                        continue
                    self.test_person(person, base + n, site, day_ix, ordinal, pos_rate)
                    if r() < P_UNKNOWN:
                        self.unknown_person(site, day_ix, ordinal, pos_rate)
            for person, person_no, site in self.retest.pop(day_ix, ()):
                until = exempt.get(person[IDENT])
                if until is None or ordinal >= until:
                    pos_rate = POSITIVITY * wf * self.pos_factor[site]
                    self.c["retests"] += 1
                    self.test_person(person, person_no, site, day_ix, ordinal, pos_rate)
            for fmt, rec, kind in self.later.pop(day_ix, ()):
                self.emit(fmt, rec)
                self.c["duplicates" if kind == "dup" else "corrections"] += 1
            self.c["files"] += self.files.close()
            self.by_day[day.isoformat()] = sum(self.files.count.values())
            if self.progress is not None:
                self.progress(1)
        c = self.c
        return ResultsStats(
            results=c["records"],
            by_format={f: c[f] for f in FORMATS},
            positives=c["P"],
            unknown_people=c["unknown"],
            stripped_zero_ids=c["stripped"],
            no_id=c["no_id"],
            duplicates=c["duplicates"],
            corrections=c["corrections"],
            flu_analytes=c["flu"],
            days=len(self.days),
            distinct=c["records"] - c["duplicates"] - c["corrections"],
            negatives=c["N"],
            inconclusive=c["I"],
            twin_swapped_ids=c["twin"],
            ambiguous_names=c["ambiguous"],
            name_variants=c["variants"],
            text_results=c["text"],
            shared_accessions=c["shared"],
            no_roster_birth_date=c["no_birth"],
            retests=c["retests"],
            files=c["files"],
            by_day=dict(self.by_day),
        )


def write_results(
    roster_dir: Path,
    out_dir: Path,
    weeks: int,
    seed: int = 1,
    start: date = date(2021, 10, 25),
    progress: Callable[[int], None] | None = None,
) -> ResultsStats:
    """Write weekly screening results for the district in `roster_dir` to `out_dir`.

    One ``DATE.csv`` / ``DATE.hl7`` / ``DATE.json`` per school day (Mon-Fri) of the
    `weeks` weeks from `start` (skipped when a format has no record that day).
    `progress(n)` is called with the number of school days finished since its
    previous call (5 x weeks in all). Same inputs give byte-identical files.
    """
    if weeks < 0:
        raise ValueError("weeks must not be negative")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _Generator(Path(roster_dir), out_dir, weeks, seed, start, progress).run()
