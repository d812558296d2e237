"""The status rule on hand-made histories (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from schoolpass.policy.model import default_policy, parse_policy
from schoolpass.policy.status import ResultForStatus, decide, facts_from
from tests.policy.test_policy import FIVE_DAY

POLICY = default_policy()


def history(*results: tuple[str, str]) -> list[ResultForStatus]:
    """(day, result) pairs, each collected at noon UTC, in order."""
    out = []
    for n, (day, result) in enumerate(results, start=1):
        on = date.fromisoformat(day)
        out.append(ResultForStatus(n, result, datetime(on.year, on.month, on.day, 12, tzinfo=UTC) + timedelta(
            minutes=n), on, "94500-6"))
    return out


def status(results, day: str, policy=POLICY) -> dict:
    on = date.fromisoformat(day)
    return decide("s-1", on, facts_from(results, on), policy).as_dict()


def test_contract_example_cleared():
    got = status(history(("2021-11-18", "negative")), "2021-11-22")
    assert got == {"id": "s-1", "on": "2021-11-22", "status": "cleared", "return_on": None, "exempt_until": None,
                   "next_test_due": "2021-11-25",
                   "last_result": {"result": "negative", "collected_on": "2021-11-18", "test_code": "94500-6"},
                   "reasons": ["negative test collected 2021-11-18, within 7 days"]}


def test_lapsed_negative_and_never_tested():
    lapsed = status(history(("2021-11-10", "negative")), "2021-11-22")
    assert (lapsed["status"], lapsed["next_test_due"]) == ("test-due", "2021-11-17")
    never = status([], "2021-11-22")
    assert (never["status"], never["next_test_due"], never["last_result"]) == ("test-due", None, None)
    assert never["reasons"] == ["no test on record"]


def test_positive_after_negative_the_same_day_isolates():
    got = status(history(("2021-11-18", "negative"), ("2021-11-18", "positive")), "2021-11-18")
    assert (got["status"], got["return_on"], got["exempt_until"], got["next_test_due"]) == (
        "isolating", "2021-11-28", "2022-02-16", "2022-02-16")


def test_isolation_then_exemption_then_testing_again():
    results = history(("2021-08-20", "positive"))
    assert status(results, "2021-08-29")["status"] == "isolating"
    assert status(results, "2021-08-30")["status"] == "exempt"
    assert status(results, "2021-11-17")["status"] == "exempt"
    ended = status(results, "2021-11-18")
    assert (ended["status"], ended["next_test_due"], ended["exempt_until"]) == ("test-due", "2021-11-18", "2021-11-18")
    assert ended["reasons"] == ["the exemption after the positive test of 2021-08-20 ended 2021-11-18"]


def test_second_positive_inside_the_episode_changes_nothing():
    results = history(("2021-08-20", "positive"), ("2021-10-01", "positive"))
    got = status(results, "2021-10-05")
    assert (got["status"], got["exempt_until"]) == ("exempt", "2021-11-18")


def test_positive_90_days_after_the_episode_start_begins_a_new_one():
    results = history(("2021-08-20", "positive"), ("2021-11-18", "positive"))
    got = status(results, "2021-11-20")
    assert (got["status"], got["return_on"], got["exempt_until"]) == ("isolating", "2021-11-28", "2022-02-16")
    just_inside = history(("2021-08-20", "positive"), ("2021-11-17", "positive"))
    assert status(just_inside, "2021-11-20")["status"] == "test-due"


def test_policy_in_force_on_the_day_governs_the_whole_episode():
    five_day = parse_policy(FIVE_DAY, "p.yaml")
    results = history(("2021-12-24", "positive"))
    before = status(results, "2021-12-26", five_day)
    assert (before["status"], before["return_on"]) == ("isolating", "2022-01-03")
    after = status(results, "2021-12-28", five_day)
    assert (after["status"], after["return_on"]) == ("isolating", "2021-12-29")
    assert status(results, "2021-12-29", five_day)["status"] == "exempt"


def test_inconclusive_clears_nothing():
    got = status(history(("2021-11-10", "negative"), ("2021-11-19", "inconclusive")), "2021-11-22")
    assert (got["status"], got["last_result"]["result"]) == ("test-due", "inconclusive")
    assert got["reasons"][-1] == "latest result, collected 2021-11-19, was inconclusive: it clears nothing"


def test_results_collected_after_the_day_are_not_used():
    results = history(("2021-11-18", "negative"), ("2021-11-23", "positive"))
    got = status(results, "2021-11-22")
    assert (got["status"], got["last_result"]["collected_on"]) == ("cleared", "2021-11-18")
