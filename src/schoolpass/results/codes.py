"""What lab codes mean for the program: which tests count, and which results are positive."""

from __future__ import annotations

from functools import cache


@cache
def program_test_codes() -> frozenset[str]:
    """The tests the built-in program counts (LOINC); the policy in force may name others.

    Read on first use: the policy model (pydantic, YAML) is not loaded by every command that imports this.
    """
    from schoolpass.policy.model import default_policy

    return default_policy().test_codes


def __getattr__(name: str):
    if name == "PROGRAM_TEST_CODES":  # the same set, as a module constant
        return program_test_codes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

POSITIVE_CODES = frozenset({"260373001", "10828004", "720735008"})  # Detected, Positive, Presumptive positive
NEGATIVE_CODES = frozenset({"260415000", "260385009"})  # Not detected, Negative
POSITIVE_TEXTS = frozenset({"positive", "detected"})
NEGATIVE_TEXTS = frozenset({"negative", "not detected"})


def interpret(code: str | None, text: str | None) -> str:
    """positive | negative | inconclusive, from a SNOMED CT code or, failing that, the text."""
    code = (code or "").strip()
    if code in POSITIVE_CODES:
        return "positive"
    if code in NEGATIVE_CODES:
        return "negative"
    folded = " ".join((text or "").split()).lower()
    if not code or code == folded or not code.isdigit():
        if folded in POSITIVE_TEXTS:
            return "positive"
        if folded in NEGATIVE_TEXTS:
            return "negative"
    return "inconclusive"
