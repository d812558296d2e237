"""School layout of the synthetic district.

The district is a strip of elementary attendance zones. Consecutive zones feed
one middle school, and consecutive middle-school areas one high school, so a
family's children go to neighbouring schools (siblings of different ages
attend different schools). Sizes follow from the number of students:
elementary ~300-700 (KG-05), middle ~700-1400 (06-08), high ~1200-2800 (09-12).
"""

from __future__ import annotations

from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from random import Random

from . import names

GRADES = ("KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")

# Average school sizes by level, and each level's first/last grade index.
_LEVELS = {
    "elementary": (0, 5, 500),
    "middle": (6, 8, 1000),
    "high": (9, 12, 2000),
}


@dataclass(frozen=True)
class School:
    sourced_id: str
    name: str
    identifier: str
    first_grade: int  # index into GRADES
    last_grade: int


@dataclass(frozen=True)
class Layout:
    schools: tuple[School, ...]
    zone_cum: tuple[float, ...]  # cumulative weights of the attendance zones
    zone_schools: tuple[tuple[int, ...], ...]  # per zone: school index for each grade
    grade_schools: tuple[tuple[int, ...], ...]  # per grade: every school teaching it


def _level_counts(students: int) -> dict[str, int]:
    counts = {}
    for level, (lo, hi, size) in _LEVELS.items():
        share = (hi - lo + 1) / len(GRADES)
        counts[level] = max(1, round(students * share / size))
    return counts


def _feed(zone_weights: list[float], groups: int, spread: float, rng: Random) -> list[int]:
    """Map each zone (in order) to one of `groups` contiguous feeder groups.

    Group sizes are proportional to random weights in [1-spread, 1+spread],
    so the upper schools vary in size. Every group gets at least one zone.
    """
    n = len(zone_weights)
    if groups >= n:
        return list(range(n))
    gw = list(accumulate(rng.uniform(1 - spread, 1 + spread) for _ in range(groups)))
    total_z = sum(zone_weights)
    out, before = [], 0.0
    for w in zone_weights:
        mid = (before + w / 2) / total_z * gw[-1]
        out.append(min(bisect(gw, mid), groups - 1))
        before += w
    if len(set(out)) < groups:  # a thin group got no zone: split evenly instead
        out = [i * groups // n for i in range(n)]
    return out


def _school_names(rng: Random, level: str, count: int) -> list[str]:
    places, people = list(names.SCHOOL_PLACES), list(names.SCHOOL_PEOPLE)
    if level == "elementary":
        pool = [f"{p} Elementary" for p in places + people]
        pool += [f"{p} Avenue Elementary" for p in places]
        pool += [f"{n}{_suffix(n)} Street Elementary" for n in range(1, 200)]
    elif level == "middle":
        pool = [f"{p} Middle School" for p in places + people]
    elif level == "high":
        pool = [f"{p} High School" for p in places]
        pool += [f"{p} Senior High School" for p in people]
    elif level == "k8":
        pool = [f"{p} K-8 School" for p in places + people]
    else:
        pool = [f"{p} Academy" for p in places + people]
    rng.shuffle(pool)
    return [pool[i] if i < len(pool) else f"{pool[i % len(pool)]} No. {i // len(pool) + 1}"
            for i in range(count)]


def _suffix(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def plan_schools(students: int, rng: Random) -> Layout:
    """Plan schools and attendance zones for a district of `students` students."""
    if students < 300:
        # Tiny district: one K-12 academy, or a K-8 school and a high school.
        specs = [("k12", 0, 12)] if students < 100 else [("k8", 0, 8), ("high", 9, 12)]
        zone_weights = [1.0]
        zone_grade_school = [[next(i for i, s in enumerate(specs) if s[1] <= g <= s[2])
                              for g in range(len(GRADES))]]
    else:
        counts = _level_counts(students)
        zone_weights = [rng.uniform(0.6, 1.4) for _ in range(counts["elementary"])]
        to_middle = _feed(zone_weights, counts["middle"], 0.35, rng)
        to_high = _feed(zone_weights, counts["high"], 0.4, rng)
        specs = []
        for level in ("elementary", "middle", "high"):
            lo, hi, _ = _LEVELS[level]
            specs += [(level, lo, hi)] * counts[level]
        mid0 = counts["elementary"]
        high0 = mid0 + counts["middle"]
        zone_grade_school = []
        for z in range(len(zone_weights)):
            by_level = (z, mid0 + to_middle[z], high0 + to_high[z])
            zone_grade_school.append([by_level[0 if g <= 5 else 1 if g <= 8 else 2]
                                      for g in range(len(GRADES))])

    width = max(4, len(str(len(specs))))
    code_width = 4 if len(specs) < 4000 else len(str(len(specs))) + 1
    codes = rng.sample(range(10 ** (code_width - 1), 10 ** code_width), len(specs))
    names_by_level: dict[str, list[str]] = {}
    for level in dict.fromkeys(s[0] for s in specs):
        names_by_level[level] = _school_names(rng, level, sum(s[0] == level for s in specs))
    used = {level: 0 for level in names_by_level}
    schools = []
    for i, (level, lo, hi) in enumerate(specs):
        name = names_by_level[level][used[level]]
        used[level] += 1
        schools.append(School(f"sch-{i + 1:0{width}d}", name, str(codes[i]), lo, hi))

    grade_schools = tuple(tuple(i for i, s in enumerate(schools) if s.first_grade <= g <= s.last_grade)
                          for g in range(len(GRADES)))
    return Layout(
        schools=tuple(schools),
        zone_cum=tuple(accumulate(zone_weights)),
        zone_schools=tuple(tuple(z) for z in zone_grade_school),
        grade_schools=grade_schools,
    )
