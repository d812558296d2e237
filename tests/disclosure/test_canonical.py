"""The ledger's hand-written canonical JSON is exactly what json.dumps gives (the contract's definition)."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from schoolpass.disclosure.ledger import FIELDS, entry_hash

text = st.text(max_size=40)
fields = st.fixed_dictionaries({
    **{name: text for name in FIELDS if name not in ("seq", "notice_id")},
    "seq": st.integers(min_value=1, max_value=2**53), "notice_id": st.integers(min_value=1, max_value=2**53),
})


@settings(max_examples=500)
@given(fields)
def test_entry_hash_is_sha256_of_sorted_compact_json(entry):
    expected = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert entry_hash(entry) == hashlib.sha256(expected.encode("utf-8")).hexdigest()
