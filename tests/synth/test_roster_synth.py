"""The synthetic OneRoster 1.1 district: shape, integrity and realism."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from schoolpass.synth.district import write_district
from schoolpass.synth.roster import RosterStats, write_roster

SAMPLE = Path("/work/shared/samples/oneroster-1.1")
FILES = ("manifest.csv", "orgs.csv", "users.csv", "demographics.csv")
HEADERS = {
    "manifest.csv": ["propertyName", "value"],
    "orgs.csv": ["sourcedId", "status", "dateLastModified", "name", "type", "identifier",
                 "parentSourcedId"],
    "users.csv": ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds",
                  "role", "username", "userIds", "givenName", "familyName", "middleName",
                  "identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password",
                  "metadata.healthNotices", "metadata.language"],
    "demographics.csv": ["sourcedId", "status", "dateLastModified", "birthDate", "sex",
                         "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
                         "nativeHawaiianOrOtherPacificIslander", "white",
                         "demographicRaceTwoOrMoreRaces", "hispanicOrLatinoEthnicity",
                         "countryOfBirthCode", "stateOfBirthAbbreviation", "cityOfBirth",
                         "publicSchoolResidenceStatus"],
}
CONTACT_ROLES = {"parent", "guardian", "relative"}
STAFF_ROLES = {"teacher", "aide", "administrator", "proctor"}
GRADE_INDEX = {g: i for i, g in enumerate(["KG"] + [f"{n:02d}" for n in range(1, 13)])}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _ids(text: str) -> list[str]:
    return [t for t in text.split(",") if t]


@dataclass
class District:
    path: Path
    stats: RosterStats
    orgs: list[dict[str, str]]
    users: list[dict[str, str]]
    demographics: dict[str, dict[str, str]]
    by_id: dict[str, dict[str, str]] = field(default_factory=dict)
    links: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # student -> contacts
    sides: Counter = field(default_factory=Counter)  # where each link is listed

    def __post_init__(self) -> None:
        self.by_id = {u["sourcedId"]: u for u in self.users}
        on_student, on_contact = set(), set()
        for u in self.users:
            for other in _ids(u["agentSourcedIds"]):
                if u["role"] == "student":
                    on_student.add((u["sourcedId"], other))
                else:
                    on_contact.add((other, u["sourcedId"]))
        for s, c in on_student | on_contact:
            self.links[s].add(c)
        self.sides = Counter(
            "both" if p in on_student and p in on_contact else "student" if p in on_student else "contact"
            for p in on_student | on_contact
        )

    def role(self, *roles: str) -> list[dict[str, str]]:
        return [u for u in self.users if u["role"] in roles]


def _load(path: Path, stats: RosterStats) -> District:
    return District(
        path=path,
        stats=stats,
        orgs=_rows(path / "orgs.csv"),
        users=_rows(path / "users.csv"),
        demographics={r["sourcedId"]: r for r in _rows(path / "demographics.csv")},
    )


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> District:
    out = tmp_path_factory.mktemp("district") / "roster"
    return _load(out, write_roster(out, 3000, seed=11))


# ----------------------------------------------------------------- determinism

def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a, b, c = (write_roster(tmp_path / n, 800, seed=s) for n, s in (("a", 5), ("b", 5), ("c", 6)))
    assert a == b
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "users.csv").read_bytes() != (tmp_path / "c" / "users.csv").read_bytes()
    assert (tmp_path / "a" / "demographics.csv").read_bytes() != (tmp_path / "c" / "demographics.csv").read_bytes()


# ------------------------------------------------------------------ file shape

def test_headers_equal_the_sample(district):
    for name, header in HEADERS.items():
        with open(district.path / name, encoding="utf-8", newline="") as fh:
            assert next(csv.reader(fh)) == header, name
        if SAMPLE.is_dir():
            with open(SAMPLE / name, encoding="utf-8", newline="") as fh:
                assert next(csv.reader(fh)) == header, f"sample {name}"


def test_manifest(district):
    rows = {r["propertyName"]: r["value"] for r in _rows(district.path / "manifest.csv")}
    assert rows.pop("manifest.version") == "1.0"
    assert rows.pop("oneroster.version") == "1.1"
    assert rows.pop("source.systemName")
    files = {k: v for k, v in rows.items() if k.startswith("file.")}
    assert {k for k, v in files.items() if v == "bulk"} == {"file.orgs", "file.users", "file.demographics"}
    assert all(v in ("bulk", "absent") for v in files.values())
    if SAMPLE.is_dir():
        sample = [r["propertyName"] for r in _rows(SAMPLE / "manifest.csv")]
        assert [r["propertyName"] for r in _rows(district.path / "manifest.csv")] == sample


def test_ids_unique_and_every_reference_resolves(district):
    all_ids = [o["sourcedId"] for o in district.orgs] + [u["sourcedId"] for u in district.users]
    assert len(all_ids) == len(set(all_ids))
    districts = [o for o in district.orgs if o["type"] == "district"]
    schools = {o["sourcedId"] for o in district.orgs if o["type"] == "school"}
    assert len(districts) == 1 and len(schools) == district.stats.schools
    assert all(o["parentSourcedId"] == districts[0]["sourcedId"]
               for o in district.orgs if o["type"] == "school")
    for u in district.users:
        orgs = _ids(u["orgSourcedIds"])
        assert orgs and set(orgs) <= schools, u["sourcedId"]
        for other in _ids(u["agentSourcedIds"]):
            target = district.by_id[other]  # KeyError = dangling link
            if u["role"] == "student":
                assert target["role"] in CONTACT_ROLES
            else:
                assert u["role"] in CONTACT_ROLES and target["role"] == "student"
    assert set(district.demographics) <= set(district.by_id)


def test_roles_and_counts_match_stats(district):
    roles = Counter(u["role"] for u in district.users)
    assert set(roles) <= {"student"} | CONTACT_ROLES | STAFF_ROLES
    s = district.stats
    assert roles["student"] == s.students == 3000
    assert roles["parent"] + roles["guardian"] == s.contacts
    assert roles["relative"] == s.relatives
    assert sum(roles[r] for r in STAFF_ROLES) == s.staff
    contacts = district.role("parent", "guardian")
    assert sum(c["metadata.healthNotices"] == "deny" for c in contacts) == s.denied_contacts
    assert sum(c["metadata.language"].startswith("es") for c in contacts) == s.spanish_contacts
    students = district.role("student")
    assert sum(u["metadata.healthNotices"] == "deny" for u in students) == s.denied_subjects
    adults = sum(1 for u in students if u["sourcedId"] in district.demographics
                 and district.demographics[u["sourcedId"]]["birthDate"] <= "2003-11-22")
    assert adults == s.students_18_plus_on_2021_11_22


def test_plausible_ratios(district):
    s, n = district.stats, district.stats.students
    assert 0.12 <= s.staff / n <= 0.18
    assert 1.2 <= s.contacts / n <= 1.8
    assert 0.02 <= s.relatives / n <= 0.09
    assert 0.001 <= s.denied_contacts / s.contacts <= 0.015
    assert 0.25 <= s.spanish_contacts / s.contacts <= 0.55
    assert 0.01 <= s.shared_family_addresses / s.contacts <= 0.1
    roles = Counter(u["role"] for u in district.role("parent", "guardian"))
    assert roles["parent"] > 5 * roles["guardian"] > 0
    staff = Counter(u["role"] for u in district.users if u["role"] in STAFF_ROLES)
    assert staff.most_common(1)[0][0] == "teacher" and len(staff) == 4
    no_demo = sum(u["sourcedId"] not in district.demographics for u in district.role("student"))
    assert no_demo < 0.01 * n
    assert all(u["sourcedId"] in district.demographics for u in district.users if u["role"] in STAFF_ROLES)


# -------------------------------------------------------------- families/links

def test_every_student_has_a_parent_or_guardian(district):
    for u in district.role("student"):
        roles = {district.by_id[c]["role"] for c in district.links[u["sourcedId"]]}
        assert roles & {"parent", "guardian"}, u["sourcedId"]
    per_student = [len(district.links[u["sourcedId"]]) for u in district.role("student")]
    assert 1.4 <= sum(per_student) / len(per_student) <= 2.2


def test_siblings_share_contacts_and_links_are_listed_variously(district):
    children = Counter(c for cs in district.links.values() for c in cs)
    assert max(children.values()) >= 3
    assert sum(v >= 2 for v in children.values()) > 0.05 * len(children)
    # a parent whose children attend different schools lists those schools
    assert any("," in c["orgSourcedIds"] for c in district.role("parent", "guardian"))
    for student, contacts in district.links.items():
        school = district.by_id[student]["orgSourcedIds"]
        for c in contacts:
            assert school in _ids(district.by_id[c]["orgSourcedIds"])
    assert set(district.sides) == {"both", "student", "contact"}
    assert district.sides["both"] > district.sides["contact"] > 0


def test_twins_exist(district):
    by_family = defaultdict(list)  # siblings = students with the same set of linked contacts
    for s, cs in district.links.items():
        by_family[frozenset(cs)].append(s)
    twins = 0
    for kids in by_family.values():
        births = Counter(district.demographics[k]["birthDate"] for k in kids if k in district.demographics)
        twins += sum(n >= 2 for n in births.values())
        if len(kids) >= 2:
            assert len({district.by_id[k]["givenName"] for k in kids}) == len(kids)
    assert twins >= 1


def test_relatives_are_extra_contacts(district):
    relatives = {u["sourcedId"] for u in district.role("relative")}
    with_relative = [s for s, cs in district.links.items() if cs & relatives]
    assert 0.02 * 3000 <= len(with_relative) <= 0.09 * 3000


def test_enabled_user_varies_for_contacts_only(district):
    assert {u["enabledUser"] for u in district.role("parent", "guardian")} == {"true", "false"}
    assert {u["enabledUser"] for u in district.users if u["role"] not in CONTACT_ROLES} == {"true"}


# ---------------------------------------------------------------------- emails

def test_emails_use_example_domains(district):
    for u in district.users:
        if not u["email"]:
            continue
        domain = u["email"].split("@", 1)[1]
        if u["role"] == "student":
            assert domain == "students.example.org"
        elif u["role"] in STAFF_ROLES:
            assert domain == "staff.example.org"
        else:
            assert domain in {"example.net", "example.org", "example.com"}
    contacts = district.role("parent", "guardian")
    missing = sum(not c["email"] for c in contacts)
    assert 0 < missing < 0.2 * len(contacts)
    high = [u for u in district.role("student") if GRADE_INDEX[u["grades"]] >= 9]
    assert 0 < sum(bool(u["email"]) for u in high) < len(high)
    assert not any(u["email"] for u in district.role("student") if GRADE_INDEX[u["grades"]] < 9)


def test_shared_family_addresses(district):
    by_address = defaultdict(list)
    for c in district.role("parent", "guardian", "relative"):
        if c["email"]:
            by_address[c["email"].lower()].append(c)
    shared = {a: cs for a, cs in by_address.items() if len(cs) > 1}
    assert len(shared) == district.stats.shared_family_addresses > 0
    for cs in shared.values():  # only a family's own two contacts share an address
        assert len(cs) == 2 and _ids(cs[0]["agentSourcedIds"]) == _ids(cs[1]["agentSourcedIds"])
        kids = {s for s, linked in district.links.items() if cs[0]["sourcedId"] in linked}
        assert kids and all(cs[1]["sourcedId"] in district.links[s] for s in kids)
    assert any(cs[0]["email"] != cs[1]["email"] for cs in shared.values())  # case differs
    # a denied contact sharing an address with an allowed one
    assert any({c["metadata.healthNotices"] for c in cs} == {"", "deny"} for cs in shared.values())


# -------------------------------------------------------------------- privacy

def test_denied_contacts_and_students(district):
    assert district.stats.denied_contacts >= 1 and district.stats.denied_subjects >= 1
    flags = Counter(u["metadata.healthNotices"] for u in district.users)
    assert set(flags) == {"", "deny"}
    # a deny never leaves a student without any allowed parent/guardian record
    for s, contacts in district.links.items():
        allowed = [c for c in contacts if district.by_id[c]["role"] != "relative"
                   and district.by_id[c]["metadata.healthNotices"] != "deny"]
        assert allowed, s


@pytest.mark.parametrize("students, denied", [(599, 0), (600, 1), (12_000, 2)])
def test_denied_student_count(tmp_path, students, denied):
    assert write_roster(tmp_path, students, seed=3).denied_subjects == denied


# -------------------------------------------------------- students and schools

def test_students_fields(district):
    students = district.role("student")
    numbers = [u["identifier"] for u in students]
    assert all(re.fullmatch(r"\d{9}", n) for n in numbers)
    assert len(set(numbers)) == len(numbers)
    assert any(n.startswith("0") for n in numbers)
    usernames = [u["username"] for u in district.users if u["username"]]
    assert len(set(usernames)) == len(usernames)  # unique across students and staff
    assert all(u["username"] for u in students)
    assert set(u["grades"] for u in students) == set(GRADE_INDEX)
    staff = [u for u in district.users if u["role"] in STAFF_ROLES]
    assert all(re.fullmatch(r"E\d{6}", u["identifier"]) for u in staff)
    assert len({u["identifier"] for u in staff}) == len(staff)
    assert any("," in u["orgSourcedIds"] for u in staff)
    assert all(len(_ids(u["orgSourcedIds"])) == 1 for u in students)


def test_birth_dates_fit_grades(district):
    older = younger = 0
    for u in district.role("student"):
        demo = district.demographics.get(u["sourcedId"])
        if demo is None:
            continue
        g = GRADE_INDEX[u["grades"]]
        start, end = f"{2015 - g}-09-02", f"{2016 - g}-09-01"
        if demo["birthDate"] < start:
            older += 1
            assert f"{2014 - g}-09-02" <= demo["birthDate"]
        elif demo["birthDate"] > end:
            younger += 1
            assert demo["birthDate"] <= f"{2017 - g}-09-01"
        assert demo["sex"] in ("female", "male")
    assert 0 < younger < older < 0.06 * 3000  # a few held back, fewer skipped a grade


def test_adult_students_on_2021_11_22(district):
    seniors = [district.demographics[u["sourcedId"]]["birthDate"] for u in district.role("student")
               if u["grades"] == "12" and u["sourcedId"] in district.demographics]
    adults = [b for b in seniors if b <= "2003-11-22"]
    turning = [b for b in seniors if "2003-11-22" < b <= "2004-06-10"]
    assert district.stats.students_18_plus_on_2021_11_22 >= len(adults) > 0.1 * len(seniors)
    assert len(turning) > 0.3 * len(seniors)


def test_school_levels_and_sizes(district):
    grades_at = defaultdict(set)
    for u in district.role("student"):
        grades_at[u["orgSourcedIds"]].add(GRADE_INDEX[u["grades"]])
    spans = sorted((min(g), max(g)) for g in grades_at.values())
    assert {(0, 5), (6, 8), (9, 12)} <= set(spans)
    assert set(spans) <= {(0, 5), (6, 8), (9, 12)}
    sizes = Counter(u["orgSourcedIds"] for u in district.role("student"))
    for school, n in sizes.items():
        lo, hi = min(grades_at[school]), max(grades_at[school])
        limits = {(0, 5): (200, 900), (6, 8): (400, 1800), (9, 12): (700, 3500)}[(lo, hi)]
        assert limits[0] <= n <= limits[1], (school, lo, hi, n)


@pytest.mark.parametrize("students, n_schools", [(1, 1), (50, 1), (150, 2), (300, 3), (600, 3)])
def test_small_districts(tmp_path, students, n_schools):
    stats = write_roster(tmp_path, students, seed=2)
    d = _load(tmp_path, stats)
    assert stats.schools == n_schools
    assert stats.students == len(d.role("student")) == students
    for u in d.role("student"):
        assert d.links[u["sourcedId"]]
        assert u["orgSourcedIds"] in {o["sourcedId"] for o in d.orgs}


# ----------------------------------------------------------------------- names

def test_names_have_real_world_variety(district):
    given = {u["givenName"] for u in district.users}
    family = {u["familyName"] for u in district.users}
    everything = given | family
    assert any(unicodedata.normalize("NFKD", n) != n for n in everything)  # accents
    assert any("'" in n for n in family)
    assert any("-" in n for n in family)
    assert all(n == unicodedata.normalize("NFC", n) for n in everything)
    assert {"María", "José"} & given
    # children mostly carry a linked contact's family name
    same = sum(any(district.by_id[c]["familyName"] == district.by_id[s]["familyName"] for c in cs)
               for s, cs in district.links.items())
    assert same > 0.8 * len(district.links)


def test_languages(district):
    langs = Counter(c["metadata.language"] for c in district.role("parent", "guardian"))
    assert langs["es"] > langs["en"] > 0 and langs[""] > 0
    assert langs["es-MX"] > 0
    assert len({"vi", "ko", "zh-Hant", "hy"} & set(langs)) >= 3
    # a family's contacts mostly share its language
    agree = total = 0
    for cs in district.links.values():
        pg = [district.by_id[c]["metadata.language"] for c in cs if district.by_id[c]["role"] != "relative"]
        if len(pg) == 2:
            total += 1
            agree += pg[0] == pg[1]
    assert agree > 0.8 * total


# ------------------------------------------------------------ API and progress

def test_write_district_and_progress(tmp_path):
    calls: list[int] = []
    stats = write_district(tmp_path, 12_000, seed=4, progress=calls.append)
    assert sum(calls) == stats.students == 12_000 and len(calls) >= 2
    assert all(n > 0 for n in calls)
    assert sorted(p.name for p in (tmp_path / "roster").iterdir()) == sorted(FILES)
    with pytest.raises(ValueError):
        write_roster(tmp_path / "bad", 0)
