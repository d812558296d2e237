"""Which policy is in force: a file given for one run, else the one stored, else the built-in default."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select

from schoolpass.errors import SchoolpassError
from schoolpass.policy.model import Policy, default_policy_text, parse_policy
from schoolpass.policy.models import StoredPolicy


@dataclass(frozen=True)
class PolicyInForce:
    policy: Policy
    source: str  # where it came from, for people reading `policy show`
    text: str


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        raise SchoolpassError(f"{Path(path).name}: cannot read the policy file") from None


def store_policy(engine: Engine, path: Path) -> Policy:
    """Validate a policy file and store it; it is in force from now on."""
    text = _read(path)
    policy = parse_policy(text, Path(path).name)
    with engine.begin() as conn:
        conn.execute(insert(StoredPolicy).values(
            stored_at=datetime.now(UTC), source_name=Path(path).name[:255],
            sha256=hashlib.sha256(text.encode()).hexdigest(), text=text))
    return policy


@lru_cache(maxsize=16)
def _parsed(text: str, source: str) -> Policy:
    """Policies are immutable once stored: parse each text once per process (pages ask on every request)."""
    return parse_policy(text, source)


def policy_in_force(conn: Connection, override: Path | None = None) -> PolicyInForce:
    if override is not None:
        text = _read(override)
        return PolicyInForce(parse_policy(text, Path(override).name), f"{Path(override).name} (this run only)", text)
    row = conn.execute(
        select(StoredPolicy.source_name, StoredPolicy.stored_at, StoredPolicy.text)
        .order_by(StoredPolicy.id.desc()).limit(1)
    ).first()
    if row is not None:
        when = row.stored_at.strftime("%Y-%m-%d %H:%M UTC")
        return PolicyInForce(_parsed(row.text, row.source_name), f"{row.source_name}, stored {when}", row.text)
    text = default_policy_text()
    return PolicyInForce(_parsed(text, "built-in default policy"), "built-in default", text)
