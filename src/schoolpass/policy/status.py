"""A person's program status on a day, and why (CONTRACT section 5).

Status on day D uses only results collected on or before D, under the policy
version in force on D (which governs the whole episode):

- Episodes: the first positive starts one; a positive collected `exemption_days` or
  more after the start of the current episode starts a new one; positives inside an
  episode change nothing. P = the start of the latest episode.
- isolating if D < return_on (P + isolation_days); else exempt if D < exempt_until
  (P + exemption_days); else cleared if D < N + screening_interval_days (N = the latest
  negative); else test-due. Inconclusive results clear nothing.

`decide` (its body is `outcome`) is the one place the rule lives. It works from three facts
per person (the positives, the latest negative, the latest result), which the per-person
path derives from the person's results in Python and the everyone path derives in SQL.
The outcome depends on nothing but the facts, the day and the policy, so the everyone
path decides once per distinct set of facts and shares the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from schoolpass.policy.model import Policy

ISOLATING, EXEMPT, CLEARED, TEST_DUE = "isolating", "exempt", "cleared", "test-due"


@dataclass(frozen=True)
class LatestResult:
    result: str
    collected_on: date
    test_code: str

    def as_dict(self) -> dict:
        return {"result": self.result, "collected_on": self.collected_on.isoformat(), "test_code": self.test_code}


@dataclass
class Facts:
    """What status depends on, from the results collected on or before the day."""

    positives: list[date] = field(default_factory=list)  # collection days, ascending
    latest_negative: date | None = None
    latest: LatestResult | None = None


@dataclass(frozen=True)
class ResultForStatus:
    id: int
    result: str
    collected_at: datetime
    collected_on: date
    test_code: str


def facts_from(results: Iterable[ResultForStatus], on: date) -> Facts:
    """The per-person path: the three facts from a person's results."""
    usable = sorted((r for r in results if r.collected_on <= on), key=lambda r: (r.collected_at, r.id))
    facts = Facts()
    facts.positives = sorted(r.collected_on for r in usable if r.result == "positive")
    negatives = [r.collected_on for r in usable if r.result == "negative"]
    facts.latest_negative = max(negatives) if negatives else None
    if usable:
        last = usable[-1]
        facts.latest = LatestResult(last.result, last.collected_on, last.test_code)
    return facts


def episode_start(positives: list[date], exemption_days: int) -> date | None:
    start = None
    for day in positives:
        if start is None or (day - start).days >= exemption_days:
            start = day
    return start


@dataclass(frozen=True, init=False)
class Status:
    id: str
    on: date
    status: str
    return_on: date | None
    exempt_until: date | None
    next_test_due: date | None
    last_result: LatestResult | None
    reasons: tuple[str, ...]

    def __init__(self, id: str, on: date, status: str, return_on: date | None, exempt_until: date | None,
                 next_test_due: date | None, last_result: LatestResult | None, reasons: tuple[str, ...]) -> None:
        # Frozen like the generated __init__, but one assignment instead of eight guarded ones: everyone's
        # status builds one per person (575k in a 500k-student district).
        object.__setattr__(self, "__dict__", {
            "id": id, "on": on, "status": status, "return_on": return_on, "exempt_until": exempt_until,
            "next_test_due": next_test_due, "last_result": last_result, "reasons": reasons})

    def as_dict(self) -> dict:
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {
            "id": self.id, "on": self.on.isoformat(), "status": self.status, "return_on": iso(self.return_on),
            "exempt_until": iso(self.exempt_until), "next_test_due": iso(self.next_test_due),
            "last_result": self.last_result.as_dict() if self.last_result else None, "reasons": list(self.reasons),
        }


# A Status without its person and day: (status, return_on, exempt_until, next_test_due, last_result, reasons).
Outcome = tuple[str, date | None, date | None, date | None, LatestResult | None, tuple[str, ...]]


def decide(person_id: str, on: date, facts: Facts, policy: Policy, explain: bool = True) -> Status:
    return Status(person_id, on, *outcome(on, facts, policy, explain))


def outcome(on: date, facts: Facts, policy: Policy, explain: bool = True) -> Outcome:
    """The rule: what `decide` says about anyone with these facts on `on` (everyone's path shares it)."""
    rules = policy.on(on)
    start = episode_start(facts.positives, rules.exemption_days)
    return_on = start + timedelta(days=rules.isolation_days) if start else None
    exempt_until = start + timedelta(days=rules.exemption_days) if start else None
    negative = facts.latest_negative
    negative_due = negative + timedelta(days=rules.screening_interval_days) if negative else None
    reasons: list[str] = []

    if return_on and on < return_on:
        status, next_due = ISOLATING, exempt_until
        if explain:
            reasons.append(f"positive test collected {start}: isolating until {return_on} "
                           f"({rules.isolation_days} days under policy \"{rules.name}\")")
    elif exempt_until and on < exempt_until:
        status, next_due = EXEMPT, exempt_until
        if explain:
            reasons.append(f"positive test collected {start}: exempt from screening until {exempt_until} "
                           f"({rules.exemption_days} days)")
    elif negative_due and on < negative_due:
        status, next_due = CLEARED, negative_due
        if explain:
            reasons.append(f"negative test collected {negative}, within {rules.screening_interval_days} days")
    else:
        status = TEST_DUE
        became_due = [d for d in (negative_due, exempt_until) if d is not None]
        next_due = max(became_due) if became_due else None
        if explain:
            if exempt_until and next_due == exempt_until:
                reasons.append(f"the exemption after the positive test of {start} ended {exempt_until}")
            elif negative_due:
                reasons.append(f"last negative test collected {negative}, more than "
                               f"{rules.screening_interval_days} days ago; testing due since {negative_due}")
            elif facts.latest is None:
                reasons.append("no test on record")
            else:
                reasons.append("no negative test on record")
    if explain and facts.latest and facts.latest.result == "inconclusive":
        reasons.append(f"latest result, collected {facts.latest.collected_on}, was inconclusive: it clears nothing")
    return status, return_on, exempt_until, next_due, facts.latest, tuple(reasons)
