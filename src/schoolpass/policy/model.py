"""A program policy: named, dated versions of the program's rules, validated on load.

A version takes effect on its `effective_from` day and repeats only the settings it
changes; the others carry over from the version before it.
"""

from __future__ import annotations

from datetime import date
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schoolpass.errors import SchoolpassError

SETTINGS = ("screening_interval_days", "isolation_days", "exemption_days", "exemption_notice_days",
            "result_notice_window_days")


class PolicyVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    effective_from: date
    screening_interval_days: int = Field(ge=1, le=366)
    isolation_days: int = Field(ge=0, le=366)
    exemption_days: int = Field(ge=0, le=3660)
    exemption_notice_days: int = Field(ge=0, le=366)
    result_notice_window_days: int = Field(ge=0, le=366)

    @model_validator(mode="after")
    def _consistent(self) -> PolicyVersion:
        if self.exemption_days and self.exemption_days < self.isolation_days:
            raise ValueError("exemption_days must be at least isolation_days (or 0 for no exemption)")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    program: str = Field(min_length=1)
    test_codes: frozenset[str]
    versions: tuple[PolicyVersion, ...] = Field(min_length=1)

    @field_validator("test_codes")
    @classmethod
    def _some_tests(cls, codes: frozenset[str]) -> frozenset[str]:
        if not codes:
            raise ValueError("name at least one test (LOINC code) the program counts")
        return codes

    @field_validator("versions")
    @classmethod
    def _ordered(cls, versions: tuple[PolicyVersion, ...]) -> tuple[PolicyVersion, ...]:
        days = [v.effective_from for v in versions]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError("versions must be in order of effective_from, one per day")
        return versions

    def on(self, day: date) -> PolicyVersion:
        """The version in force on `day` (the first version also covers any earlier day)."""
        current = self.versions[0]
        for version in self.versions[1:]:
            if version.effective_from <= day:
                current = version
        return current


def parse_policy(text: str, source: str) -> Policy:
    """A policy from YAML text; a clear error naming `source` and the setting when it is invalid."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise SchoolpassError(f"{source}{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise SchoolpassError(f"{source}: a policy is a mapping with program, test_codes and versions")
    versions = data.get("versions")
    if isinstance(versions, list):
        data = dict(data, versions=_carry_over(versions))
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "policy"
            lines.append(f"{source}: {where}: {error['msg']}")
        raise SchoolpassError("\n".join(lines)) from None


def _carry_over(versions: list) -> list:
    """Each version repeats only what it changes: fill in the rest from the version before it."""
    filled: list = []
    previous: dict = {}
    for version in versions:
        if not isinstance(version, dict):
            filled.append(version)
            continue
        merged = {key: previous[key] for key in SETTINGS if key in previous}
        merged.update(version)
        filled.append(merged)
        previous = merged
    return filled


def default_policy_text() -> str:
    return resources.files("schoolpass.policy").joinpath("default.yaml").read_text(encoding="utf-8")


def default_policy() -> Policy:
    return parse_policy(default_policy_text(), "built-in default policy")
