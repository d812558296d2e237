"""What lab codes mean for the program: which tests count, and which results are positive."""

from __future__ import annotations

# LOINC codes of SARS-CoV-2 tests the screening program counts (RNA NAA and antigen).
PROGRAM_TEST_CODES = frozenset({
    "94500-6",  # SARS-CoV-2 RNA [Presence] in Respiratory specimen by NAA with probe detection
    "94309-2",  # SARS-CoV-2 RNA [Presence] in Specimen by NAA with probe detection
    "94531-1",  # SARS-CoV-2 RNA panel - Respiratory specimen by NAA with probe detection
    "94533-7",  # SARS-CoV-2 N gene [Presence] in Respiratory specimen by NAA with probe detection
    "94534-5",  # SARS-CoV-2 RdRp gene [Presence] in Respiratory specimen by NAA with probe detection
    "94559-2",  # SARS-CoV-2 ORF1ab region [Presence] in Respiratory specimen by NAA with probe detection
    "94565-9",  # SARS-CoV-2 RNA [Presence] in Nasopharynx by NAA with non-probe detection
    "94759-8",  # SARS-CoV-2 RNA [Presence] in Nasopharynx by NAA with probe detection
    "94845-5",  # SARS-CoV-2 RNA [Presence] in Saliva (oral fluid) by NAA with probe detection
    "95406-5",  # SARS-CoV-2 RNA [Presence] in Nose by NAA with probe detection
    "95409-9",  # SARS-CoV-2 N gene [Presence] in Nose by NAA with probe detection
    "94558-4",  # SARS-CoV-2 Ag [Presence] in Respiratory specimen by Rapid immunoassay
    "95209-3",  # SARS-CoV-2 Ag [Presence] in Respiratory specimen by Rapid immunoassay (nose/throat)
    "96119-3",  # SARS-CoV-2 Ag [Presence] in Upper respiratory specimen by Immunoassay
    "97097-0",  # SARS-CoV-2 Ag [Presence] in Upper respiratory specimen by Rapid immunoassay
})

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
