"""Comparing people's names the way matching must: case and accents folded, spacing collapsed."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=65536)
def fold_name(name: str | None) -> str:
    """`  María  José ` → `maria jose`; `NGUYỄN` → `nguyen`. Empty for None."""
    if not name:
        return ""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())
