"""Link tokens: the one thing in a message that says whom it discloses.

A token is random, shown once (in the message's link, or as a reference code when the
subject has no birth date on record), and stored only as its SHA-256. The guard and the
ledger read the token back out of the rendered bytes, so what they record is what the
message really points to, not what the plan meant.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_BYTES = 24  # 32 URL-safe characters
LINK_PATH = "/r/"
REFERENCE_PREFIX = "SP-"
_TOKEN = r"([A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])"
_FIND = re.compile(rf"(?:{re.escape(LINK_PATH)}|{re.escape(REFERENCE_PREFIX)}){_TOKEN}".encode())


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def link_for(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{LINK_PATH}{token}"


def reference_for(token: str) -> str:
    """The code a family quotes to the school when the message carries no link."""
    return f"{REFERENCE_PREFIX}{token}"


def find_tokens(raw: bytes) -> set[str]:
    """Every token a rendered message carries, in links or reference codes (8bit bodies)."""
    return {match.decode("ascii") for match in _FIND.findall(raw)}
