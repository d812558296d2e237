"""Write a synthetic district as a OneRoster 1.1 CSV export.

Rows are streamed with ``csv.writer``: students go straight to ``users.csv``,
their parents/guardians/relatives to a temporary spool that is appended after
them, then staff. Memory stays small (name caches and e-mail counters only).

Families are the unit of generation: 1-4 enrolled children who share the same
contact records, 1-2 parents/guardians and sometimes a relative. Links are
listed on both rows, only on the student's row or only on the contact's row
(chosen per family), and every link resolves.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import unicodedata
from bisect import bisect
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import Callable

from . import names
from .schools import GRADES, plan_schools

USERS_HEADER = (
    "sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role",
    "username", "userIds", "givenName", "familyName", "middleName", "identifier", "email",
    "sms", "phone", "agentSourcedIds", "grades", "password", "metadata.healthNotices",
    "metadata.language",
)
DEMOGRAPHICS_HEADER = (
    "sourcedId", "status", "dateLastModified", "birthDate", "sex",
    "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation",
    "cityOfBirth", "publicSchoolResidenceStatus",
)
ORGS_HEADER = ("sourcedId", "status", "dateLastModified", "name", "type", "identifier",
               "parentSourcedId")
_BULK = {"file.demographics", "file.orgs", "file.users"}
_FILES = ("academicSessions", "categories", "classes", "classResources", "courses",
          "courseResources", "demographics", "enrollments", "lineItems", "orgs",
          "resources", "results", "users")
MANIFEST_ROWS = (
    ("manifest.version", "1.0"),
    ("oneroster.version", "1.1"),
    *((f"file.{f}", "bulk" if f"file.{f}" in _BULK else "absent") for f in _FILES),
    ("source.systemName", "schoolpass synthetic SIS"),
)

DISTRICT_ID = "dist-1"
ADULT_ON = "2003-11-22"  # born on or before this day: 18+ on 2021-11-22
_DEMO_TAIL = ("", "", "", "")  # country/state/city of birth, residence status
_FLUSH = 4096  # rows buffered before writerows
_PROGRESS_EVERY = 5000
_DAY0 = date(1930, 1, 1).toordinal()
_DAYS = [date.fromordinal(o).isoformat()
         for o in range(_DAY0, date(2018, 1, 1).toordinal())]

_FOLD = str.maketrans({"đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae",
                       "ł": "l", "ı": "i"})


@dataclass(frozen=True)
class RosterStats:
    """Counts of what was written. `contacts` = parents and guardians (relatives apart)."""

    schools: int
    students: int
    staff: int
    contacts: int
    relatives: int
    denied_contacts: int  # parents/guardians with metadata.healthNotices=deny
    denied_subjects: int  # students with metadata.healthNotices=deny
    students_18_plus_on_2021_11_22: int  # among students with a birth date
    spanish_contacts: int  # parents/guardians with language es or es-*
    shared_family_addresses: int  # families whose two contacts share one address


def _cum(pairs):
    items = tuple(p[0] for p in pairs)
    return items, tuple(accumulate(p[1] for p in pairs))


def _fold(text: str) -> str:
    """ASCII, lower-case, letters/digits/hyphens only: for usernames and addresses."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c == "-")).lower()


class _Roster:
    def __init__(self, out_dir: Path, students: int, seed: int, progress):
        self.rng = Random(seed)
        self.out_dir = out_dir
        self.target = students
        self.progress = progress
        self.layout = plan_schools(students, self.rng)
        self.groups, self.group_cum = _cum([(g, g.family_weight) for g in names.GROUPS])
        self.staff_groups, self.staff_cum = _cum([(g, g.staff_weight) for g in names.GROUPS])
        self.lang = {g.key: _cum(g.languages) for g in names.GROUPS}
        self.phones = [f"({a}) 555-01{n:02d}" for a in names.AREA_CODES for n in range(100)]
        self.folded: dict[str, str] = {}
        self.used_contact: dict[str, int] = {}
        self.used_login: dict[str, int] = {}
        # Birth windows per grade for the 2021-22 year (kindergarten: 5 by Sep 1).
        self.birth_start = [date(2015 - g, 9, 2).toordinal() - _DAY0 for g in range(13)]
        self.birth_span = [date(2016 - g, 9, 2).toordinal() - date(2015 - g, 9, 2).toordinal()
                           for g in range(13)]
        w = max(6, len(str(students)))
        self.stu_id = f"stu-{{:0{w}d}}".format
        self.con_id = f"con-{{:0{max(6, len(str(3 * students)))}d}}".format
        self.stf_id = f"stf-{{:0{w}d}}".format
        # Student numbers: a permutation of 0..10^9-1, so unique, ~10% with leading zeros.
        self.num_mul = self.rng.randrange(10**8, 10**9) | 1
        while self.num_mul % 5 == 0:
            self.num_mul += 2
        self.num_add = self.rng.randrange(10**9)
        deny = max(1 if students >= 600 else 0, round(students / 5000))
        self.denied_students = set(self.rng.sample(range(1, students + 1), min(deny, students)))
        self.school_counts = [0] * len(self.layout.schools)
        self.n_students = self.n_contacts = self.n_relatives = 0
        self.n_denied_contacts = self.n_adults = self.n_spanish = self.n_shared = 0
        self.n_denied_students = 0
        self.since_progress = 0

    # ---------------------------------------------------------------- helpers
    def fold(self, text: str) -> str:
        f = self.folded.get(text)
        if f is None:
            f = self.folded[text] = _fold(text) or "x"
        return f

    @staticmethod
    def unique(local: str, domain: str, used: dict[str, int]) -> str:
        """`local@domain`, the local part numbered when taken.

        Unnumbered locals never end in a digit, so numbered ones cannot collide.
        """
        key = f"{local}@{domain}"
        n = used.get(key, 0) + 1
        used[key] = n
        return key if n == 1 else f"{local}{n}@{domain}"

    @staticmethod
    def capitalized(address: str) -> str:
        """The same address as some people type it: `Maria.Garcia@example.net`."""
        local, _, domain = address.partition("@")
        return f"{local.title()}@{domain}"

    def contact_email(self, given: str, family: str) -> str:
        r = self.rng.random
        g, f = self.fold(given), self.fold(family)
        x = r()
        if x < 0.45:
            local = f"{g}.{f}"
        elif x < 0.65:
            local = g + f
        elif x < 0.80:
            local = g[0] + f
        elif x < 0.85:
            local = f"{f}.{g}"
        elif x < 0.95:
            local = f"{g}_{f}"
        else:
            local = f"{g}.{f[0]}"
        address = self.unique(local, self.rng.choice(names.CONTACT_DOMAINS), self.used_contact)
        return address if r() > 0.08 else self.capitalized(address)

    def family_email(self, g1: str, g2: str, family: str) -> str:
        f, x = self.fold(family), self.rng.random()
        if x < 0.5:
            local = f"{f}.family"
        elif x < 0.75:
            local = f"the{f}s"
        else:
            local = f"{self.fold(g1)}.{self.fold(g2)}.{f}"
        return self.unique(local, self.rng.choice(names.CONTACT_DOMAINS), self.used_contact)

    def login(self, given: str, family: str) -> str:
        """A username unique across students and staff, e.g. `maria.garcia7`."""
        local = f"{self.fold(given.split(' ')[0])}.{self.fold(family)}"
        return self.unique(local, "", self.used_login)[:-1]  # drop the "@"

    def pick_lang(self, group) -> str:
        items, cum = self.lang[group.key]
        return items[bisect(cum, self.rng.random() * cum[-1])]

    # --------------------------------------------------------------- families
    def grades(self, k: int) -> list[int]:
        """Grade indices of k enrolled siblings; a repeated grade means twins."""
        r = self.rng.random
        out = [self.rng.randrange(13)]
        lo = hi = out[0]
        while len(out) < k:
            if r() < 0.03:
                out.append(out[-1])
                continue
            gap = 1 + int(r() * r() * 4)
            tries = (lo - gap, hi + gap) if r() < 0.5 else (hi + gap, lo - gap)
            g = next((t for t in tries if 0 <= t <= 12), None)
            if g is None:
                break
            out.append(g)
            lo, hi = min(lo, g), max(hi, g)
        return out

    def family(self, users: list, contacts: list, demos: list) -> None:
        """Append one family's students and contacts (and their demographics rows)."""
        r, choice = self.rng.random, self.rng.choice
        grp = self.groups[bisect(self.group_cum, r() * self.group_cum[-1])]
        x = r()
        k = 1 if x < 0.82 else 2 if x < 0.95 else 3 if x < 0.99 else 4
        grades = self.grades(min(k, self.target - self.n_students))
        fam_a, fam_b = choice(grp.family), choice(grp.family)
        x = r()
        if grp.key == "hispanic" and x < 0.10 and fam_a != fam_b:
            kid_family = f"{fam_a}-{fam_b}" if x < 0.07 else f"{fam_a} {fam_b}"
        elif x < 0.02 and fam_a != fam_b:
            kid_family = f"{fam_a}-{fam_b}"
        else:
            kid_family = fam_a
        mixed = r() < 0.06
        race = names.TWO_OR_MORE if mixed else grp.race

        people = self.household(grp, fam_a, fam_b, mixed)
        emails, flags = self.addresses(people, kid_family)
        first = self.n_contacts + self.n_relatives + 1
        con_ids = [self.con_id(first + i) for i in range(len(people))]
        x = r()  # where this family's links are listed
        on_student, on_contact = (True, True) if x < 0.6 else (True, False) if x < 0.85 else (False, True)

        kids = self.students(grp, grades, kid_family, race, ",".join(con_ids) if on_student else "",
                             users, demos)
        orgs = ",".join(dict.fromkeys(k[1] for k in kids))
        agents = ",".join(k[0] for k in kids) if on_contact else ""
        eldest = min(k[2] for k in kids)
        for cid, (given, family, role, female, lang), email, flag in zip(con_ids, people, emails, flags):
            phone = choice(self.phones) if r() < 0.8 else ""
            contacts.append((cid, "", "", "true" if r() < 0.9 else "false", orgs, role, "", "",
                             given, family, "", "", email, "", phone, agents, "", "", flag, lang))
            if r() < 0.05:  # a few contacts have demographics too
                lo, hi = (20, 45) if role == "parent" else (38, 70)
                day = _DAYS[max(0, eldest - self.rng.randrange(lo * 365, hi * 365))]
                demos.append((cid, "", "", day, "female" if female else "male", *race, *_DEMO_TAIL))
            if role == "relative":
                self.n_relatives += 1
                continue
            self.n_contacts += 1
            self.n_denied_contacts += flag == "deny"
            self.n_spanish += lang.startswith("es")

        self.since_progress += len(kids)
        if self.progress is not None and self.since_progress >= _PROGRESS_EVERY:
            self.progress(self.since_progress)
            self.since_progress = 0

    def household(self, grp, fam_a: str, fam_b: str, mixed: bool) -> list[tuple]:
        """1-2 parents/guardians, sometimes a relative: (given, family, role, female, language)."""
        r, choice = self.rng.random, self.rng.choice
        language = self.pick_lang(grp)
        people = []
        if r() < 0.85:
            g2 = choice(self.groups) if mixed else grp
            people.append((choice(grp.female), fam_a if r() < 0.65 else fam_b, "parent", True, language))
            role = "guardian" if r() < 0.05 else "parent"
            family = fam_a if role == "parent" else choice(g2.family)
            lang = language
            if r() < 0.10 and language not in ("", "en"):
                lang = "en" if r() < 0.5 else ""
            people.append((choice(g2.male), family, role, False, lang))
        elif r() < 0.8:
            female = r() < 0.8
            people.append((choice(grp.female if female else grp.male),
                           fam_a if r() < 0.7 else fam_b, "parent", female, language))
        else:  # e.g. a grandparent or aunt with guardianship
            female = r() < 0.75
            people.append((choice(grp.female if female else grp.male),
                           fam_a if r() < 0.5 else choice(grp.family), "guardian", female, language))
        if r() < 0.05:
            female = r() < 0.7
            people.append((choice(grp.female if female else grp.male),
                           fam_a if r() < 0.5 else choice(grp.family), "relative", female,
                           language if r() < 0.7 else ""))
        return people

    def addresses(self, people: list[tuple], kid_family: str) -> tuple[list[str], list[str]]:
        """E-mail and healthNotices flag per contact (shared family addresses, court orders)."""
        r = self.rng.random
        emails = [self.contact_email(p[0], p[1]) if r() < 0.93 else "" for p in people]
        flags = [""] * len(people)
        if len(people) >= 2 and people[1][2] != "relative":
            if r() < 0.08:  # both use one family address, perhaps typed in another case
                shared = self.family_email(people[0][0], people[1][0], kid_family)
                emails[0], emails[1] = (self.capitalized(shared), shared) if r() < 0.5 else (shared, shared)
                self.n_shared += 1
                if r() < 0.05 or self.n_shared == 1:
                    flags[1] = "deny"  # denied, yet sharing the allowed parent's address
            elif r() < 0.009:
                flags[1] = "deny"
        return emails, flags

    def students(self, grp, grades: list[int], family: str, race: tuple, agents: str,
                 users: list, demos: list) -> list[tuple[str, str, int]]:
        """Append the children's rows; return (sourcedId, school, birth day) for each."""
        rng, r, choice = self.rng, self.rng.random, self.rng.choice
        layout = self.layout
        zone = layout.zone_schools[bisect(layout.zone_cum, r() * layout.zone_cum[-1])]
        kids, given_names, birth = [], set(), 0
        for i, g in enumerate(grades):
            n = self.n_students = self.n_students + 1
            sid = self.stu_id(n)
            female = r() < 0.49
            pool = grp.female if female else grp.male
            given = choice(pool)
            while given in given_names:  # siblings (twins too) get different names
                given = choice(pool)
            given_names.add(given)
            middle = choice(pool) if r() < 0.25 else ""
            if middle == given:
                middle = ""
            if not (i and g == grades[i - 1]):  # twins share the birthday
                birth = self.birth_start[g] + rng.randrange(self.birth_span[g])
                x = r()
                if x < 0.025:
                    birth -= 365  # held back a year
                elif x < 0.028:
                    birth += 365  # skipped a grade
            school_ix = zone[g] if r() > 0.03 else choice(layout.grade_schools[g])
            self.school_counts[school_ix] += 1
            school = layout.schools[school_ix].sourced_id
            username = self.login(given, family)
            email = f"{username}@{names.STUDENT_DOMAIN}" if g >= 9 and r() < 0.6 else ""
            flag = ""
            if n in self.denied_students:
                flag = "deny"
                self.n_denied_students += 1
            number = (n * self.num_mul + self.num_add) % 1_000_000_000
            users.append((sid, "", "", "true", school, "student", username, "", given, family,
                          middle, f"{number:09d}", email, "", "", agents, GRADES[g], "", flag, ""))
            if r() >= 0.002:  # a few students have no demographics row
                day = _DAYS[birth]
                demos.append((sid, "", "", day, "female" if female else "male", *race, *_DEMO_TAIL))
                self.n_adults += day <= ADULT_ON
            kids.append((sid, school, birth))
        return kids

    # ------------------------------------------------------------------ staff
    def staff(self, batch_size: int):
        """Yield lists of (users row, demographics row) for every staff member."""
        rng, r, choice = self.rng, self.rng.random, self.rng.choice
        schools = self.layout.schools
        total = max(len(schools), round(self.target * 0.15))
        weights = list(accumulate(c + 1 for c in self.school_counts))
        roles, role_cum = _cum([("teacher", 0.74), ("aide", 0.12), ("proctor", 0.07),
                                ("administrator", 0.07)])
        mul = rng.randrange(10**5, 10**6) | 1
        while mul % 5 == 0 or mul % 3 == 0:
            mul += 2
        add = rng.randrange(900_000)
        first_birth = date(1956, 1, 1).toordinal() - _DAY0
        birth_span = date(1999, 7, 1).toordinal() - _DAY0 - first_birth
        batch = []
        for n in range(1, total + 1):
            if n <= len(schools):  # every school has a principal
                ix, role = n - 1, "administrator"
            else:
                ix = bisect(weights, r() * weights[-1])
                role = roles[bisect(role_cum, r() * role_cum[-1])]
            orgs = schools[ix].sourced_id
            if len(schools) > 1 and r() < 0.03:  # itinerant: also a neighbouring school
                other = ix + 1 if ix + 1 < len(schools) else ix - 1
                orgs = f"{orgs},{schools[other].sourced_id}"
            grp = self.staff_groups[bisect(self.staff_cum, r() * self.staff_cum[-1])]
            female = r() < 0.7
            given, family = choice(grp.female if female else grp.male), choice(grp.family)
            username = self.login(given, family)
            sid = self.stf_id(n)
            number = (n * mul + add) % 900_000 + 100_000 if total < 900_000 else n
            batch.append((
                (sid, "", "", "true", orgs, role, username, "", given, family, "",
                 f"E{number}", f"{username}@{names.STAFF_DOMAIN}", "", "", "", "", "", "", ""),
                (sid, "", "", _DAYS[first_birth + rng.randrange(birth_span)],
                 "female" if female else "male", *grp.race, *_DEMO_TAIL),
            ))
            if len(batch) >= batch_size:
                yield batch
                batch = []
        yield batch


def _writer(fh):
    return csv.writer(fh, lineterminator="\n")


def _open(path: Path):
    return open(path, "w", encoding="utf-8", newline="")


def write_roster(
    out_dir: Path,
    students: int,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> RosterStats:
    """Write manifest/orgs/users/demographics.csv for a district of `students` students.

    Same (students, seed) gives byte-identical files. `progress(n)` is called with
    the number of students written since its previous call.
    """
    if students < 1:
        raise ValueError("students must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = _Roster(out_dir, students, seed, progress)

    with _open(out_dir / "manifest.csv") as fh:
        w = _writer(fh)
        w.writerow(("propertyName", "value"))
        w.writerows(MANIFEST_ROWS)
    with _open(out_dir / "orgs.csv") as fh:
        w = _writer(fh)
        w.writerow(ORGS_HEADER)
        w.writerow((DISTRICT_ID, "", "", names.DISTRICT_NAME, "district", names.DISTRICT_CODE, ""))
        w.writerows((s.sourced_id, "", "", s.name, "school", s.identifier, DISTRICT_ID)
                    for s in gen.layout.schools)

    with _open(out_dir / "users.csv") as users_fh, _open(out_dir / "demographics.csv") as demo_fh, \
            tempfile.TemporaryFile("w+", encoding="utf-8", newline="", dir=out_dir) as spool:
        users_w, demo_w, spool_w = _writer(users_fh), _writer(demo_fh), _writer(spool)
        users_w.writerow(USERS_HEADER)
        demo_w.writerow(DEMOGRAPHICS_HEADER)
        users, contacts, demos = [], [], []
        while gen.n_students < students:
            gen.family(users, contacts, demos)
            if len(users) >= _FLUSH:
                users_w.writerows(users)
                spool_w.writerows(contacts)
                demo_w.writerows(demos)
                users.clear()
                contacts.clear()
                demos.clear()
        users_w.writerows(users)
        spool_w.writerows(contacts)
        demo_w.writerows(demos)
        spool.seek(0)
        users_fh.flush()
        shutil.copyfileobj(spool, users_fh, 1 << 20)
        staff = 0
        for batch in gen.staff(_FLUSH):
            users_w.writerows(row[0] for row in batch)
            demo_w.writerows(row[1] for row in batch)
            staff += len(batch)
    if progress is not None and gen.since_progress:
        progress(gen.since_progress)

    return RosterStats(
        schools=len(gen.layout.schools),
        students=gen.n_students,
        staff=staff,
        contacts=gen.n_contacts,
        relatives=gen.n_relatives,
        denied_contacts=gen.n_denied_contacts,
        denied_subjects=gen.n_denied_students,
        students_18_plus_on_2021_11_22=gen.n_adults,
        spanish_contacts=gen.n_spanish,
        shared_family_addresses=gen.n_shared,
    )
