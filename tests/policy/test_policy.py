"""Policy as data: versions, carry-over, validation with clear errors, stored or given for one run."""

from __future__ import annotations

from datetime import date

import pytest

from schoolpass.errors import SchoolpassError
from schoolpass.policy.model import default_policy, parse_policy
from tests.cli import run

FIVE_DAY = """
program: COVID-19 school screening
test_codes: [94500-6, 94558-4]
versions:
  - name: 2021-22 screening
    effective_from: 2021-08-01
    screening_interval_days: 7
    isolation_days: 10
    exemption_days: 90
    exemption_notice_days: 7
    result_notice_window_days: 3
  - name: CDC 5-day isolation
    effective_from: 2021-12-27
    isolation_days: 5
"""


def test_default_policy_is_the_contracts():
    policy = default_policy()
    rules = policy.on(date(2021, 11, 22))
    assert (rules.screening_interval_days, rules.isolation_days, rules.exemption_days, rules.exemption_notice_days,
            rules.result_notice_window_days) == (7, 10, 90, 7, 3)
    assert {"94500-6", "94558-4"} <= policy.test_codes


def test_later_versions_repeat_only_what_they_change():
    policy = parse_policy(FIVE_DAY, "p.yaml")
    assert policy.on(date(2021, 12, 26)).isolation_days == 10
    later = policy.on(date(2021, 12, 27))
    assert (later.name, later.isolation_days, later.exemption_days) == ("CDC 5-day isolation", 5, 90)
    assert policy.on(date(2020, 1, 1)).name == "2021-22 screening"  # the first version covers earlier days


@pytest.mark.parametrize("text, message", [
    ("program: x\nversions: [\n", "p.yaml:3: not valid YAML"),
    ("- a\n- b\n", "p.yaml: a policy is a mapping with program, test_codes and versions"),
    (FIVE_DAY.replace("isolation_days: 10", "isolation_days: -1"),
     "p.yaml: versions.0.isolation_days: Input should be greater than or equal to 0"),
    (FIVE_DAY.replace("effective_from: 2021-12-27", "effective_from: 2021-07-01"),
     "p.yaml: versions: Value error, versions must be in order of effective_from, one per day"),
    (FIVE_DAY.replace("    isolation_days: 5", "    isolation_dayz: 5"),
     "p.yaml: versions.1.isolation_dayz: Extra inputs are not permitted"),
    (FIVE_DAY.replace("test_codes: [94500-6, 94558-4]", "test_codes: []"),
     "p.yaml: test_codes: Value error, name at least one test (LOINC code) the program counts"),
])
def test_invalid_policies_are_refused_clearly(text, message):
    with pytest.raises(SchoolpassError) as refused:
        parse_policy(text, "p.yaml")
    assert str(refused.value) == message


def test_set_show_and_override(db, tmp_path, capsys, monkeypatch):
    shown = run(capsys, "policy", "show", "--db", db.url)
    assert shown.code == 0 and "built-in default" in shown.err and "isolation_days: 10" in shown.out
    path = tmp_path / "five.yaml"
    path.write_text(FIVE_DAY, encoding="utf-8")
    assert run(capsys, "policy", "set", path, "--db", db.url).code == 0
    shown = run(capsys, "policy", "show", "--db", db.url)
    assert "five.yaml, stored" in shown.err and "CDC 5-day isolation" in shown.out
    other = tmp_path / "other.yaml"
    other.write_text(FIVE_DAY.replace("CDC 5-day isolation", "Other rules"), encoding="utf-8")
    assert "Other rules" in run(capsys, "policy", "show", "--policy", other, "--db", db.url).out
    monkeypatch.setenv("SCHOOLPASS_POLICY", str(other))
    assert "Other rules" in run(capsys, "policy", "show", "--db", db.url).out
    bad = tmp_path / "bad.yaml"
    bad.write_text(FIVE_DAY.replace("isolation_days: 10", "isolation_days: ten"), encoding="utf-8")
    refused = run(capsys, "policy", "set", bad, "--db", db.url)
    assert refused.code == 1 and "bad.yaml: versions.0.isolation_days" in refused.err
