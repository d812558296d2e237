"""Staff console accounts: who may sign in, with what role, over which schools; server-side sessions.

- Passwords: Argon2id (argon2-cffi's `PasswordHasher`, RFC 9106 parameters). An unknown or
  disabled email is checked against a dummy hash, so it costs the same time as a wrong password.
- Second factor: optional TOTP (pyotp), asked at sign-in when the account has a secret.
- Sessions: the cookie carries a random token; the database keeps only its SHA-256. Every request
  looks the session and its account up again, so a sign-out, `staff disable` or a role change
  takes effect at once. Idle timeout 30 minutes, absolute limit 12 hours.
- Scope: district-admin, auditor and viewer cover every school; school-admin and nurse only the
  schools (org sourcedIds) given when the account was made.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, update

from schoolpass.errors import NotFound, SchoolpassError
from schoolpass.roster.models import OrgVersion
from schoolpass.web.models import StaffAccount, StaffAccountSchool, StaffSession

DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE, AUDITOR, VIEWER = "district-admin", "school-admin", "nurse", "auditor", "viewer"
ROLES = (DISTRICT_ADMIN, SCHOOL_ADMIN, NURSE, AUDITOR, VIEWER)
SCHOOL_ROLES = (SCHOOL_ADMIN, NURSE)  # these see only their own schools
MIN_PASSWORD = 12
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=30)  # last_seen_at is written at most this often

_hasher = None
_dummy_hash: dict[int, str] = {}


def hasher():
    """The Argon2 hasher (created on first use; tests may swap in a cheaper one with `use_hasher`)."""
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()
    return _hasher


def use_hasher(new) -> None:
    global _hasher
    _hasher = new


def _dummy() -> str:
    current = hasher()
    if id(current) not in _dummy_hash:
        _dummy_hash[id(current)] = current.hash(secrets.token_urlsafe(16))
    return _dummy_hash[id(current)]


@dataclass(frozen=True)
class Scope:
    """What an account may see: its role, and its schools (None: every school)."""

    role: str
    schools: frozenset[str] | None

    @property
    def all_schools(self) -> bool:
        return self.schools is None

    def covers(self, school_ids: Iterable[str]) -> bool:
        """Whether a person in these schools is within the scope."""
        return self.schools is None or bool(self.schools.intersection(school_ids))


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: str
    schools: frozenset[str]
    has_totp: bool
    disabled: bool = False

    @property
    def scope(self) -> Scope:
        return Scope(self.role, self.schools if self.role in SCHOOL_ROLES else None)

    @property
    def actor(self) -> str:
        """How the access log names this account (an id, not the email)."""
        return f"staff:{self.id}"


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in email) or len(email) > 320:
        raise SchoolpassError("a staff account needs an email address like name@example.org")
    return email


def check_role(role: str, schools: Iterable[str]) -> list[str]:
    if role not in ROLES:
        raise SchoolpassError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    schools = sorted(set(schools))
    if role in SCHOOL_ROLES and not schools:
        raise SchoolpassError(f"a {role} account needs at least one --school ID")
    if role not in SCHOOL_ROLES and schools:
        raise SchoolpassError(f"a {role} account covers every school; --school is only for "
                              f"{' and '.join(SCHOOL_ROLES)} accounts")
    return schools


def _check_schools(conn: Connection, schools: list[str]) -> None:
    if not schools:
        return
    known = set(conn.execute(select(OrgVersion.sourced_id).where(
        OrgVersion.sourced_id.in_(schools), OrgVersion.rec_to.is_(None))).scalars())
    missing = [s for s in schools if s not in known]
    if missing:
        raise NotFound(f"no org with sourcedId {', '.join(missing)} in the roster")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise SchoolpassError(f"the password must be at least {MIN_PASSWORD} characters long")


def _load(conn: Connection, row) -> Account:
    schools = frozenset(conn.execute(select(StaffAccountSchool.org_sourced_id)
                                     .where(StaffAccountSchool.account_id == row.id)).scalars())
    return Account(row.id, row.email, row.role, schools, row.totp_secret is not None, row.disabled_at is not None)


def _row(conn: Connection, email: str, lock: bool = False):
    statement = select(StaffAccount).where(StaffAccount.email == normalize_email(email))
    return conn.execute(statement.with_for_update() if lock else statement).first()


def get_account(conn: Connection, email: str) -> Account:
    row = _row(conn, email)
    if row is None:
        raise NotFound("no staff account with that email")
    return _load(conn, row)


def add_account(engine: Engine, email: str, role: str, password: str, schools: Iterable[str] = (),
                totp_secret: str | None = None, now: datetime | None = None) -> Account:
    email = normalize_email(email)
    schools = check_role(role, schools)
    check_password(password)
    password_hash = hasher().hash(password)
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        _check_schools(conn, schools)
        if _row(conn, email) is not None:
            raise SchoolpassError("a staff account with that email already exists")
        account_id = conn.execute(insert(StaffAccount).values(
            email=email, role=role, password_hash=password_hash, totp_secret=totp_secret, created_at=now,
        ).returning(StaffAccount.id)).scalar_one()
        for school in schools:
            conn.execute(insert(StaffAccountSchool).values(account_id=account_id, org_sourced_id=school))
        return _load(conn, _row(conn, email))


def disable_account(engine: Engine, email: str, now: datetime | None = None) -> int:
    """End an account and every one of its sessions at once. Returns how many live sessions ended."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        row = _row(conn, email, lock=True)
        if row is None:
            raise NotFound("no staff account with that email")
        if row.disabled_at is None:
            conn.execute(update(StaffAccount).where(StaffAccount.id == row.id).values(disabled_at=now))
        ended = conn.execute(update(StaffSession).where(
            StaffSession.account_id == row.id, StaffSession.revoked_at.is_(None), StaffSession.expires_at > now,
        ).values(revoked_at=now)).rowcount
        return ended


def set_role(engine: Engine, email: str, role: str, schools: Iterable[str] = ()) -> Account:
    """Change an account's role (and schools); live sessions see the change on their next request."""
    schools = check_role(role, schools)
    with engine.begin() as conn:
        row = _row(conn, email, lock=True)
        if row is None:
            raise NotFound("no staff account with that email")
        _check_schools(conn, schools)
        conn.execute(update(StaffAccount).where(StaffAccount.id == row.id).values(role=role))
        conn.execute(delete(StaffAccountSchool).where(StaffAccountSchool.account_id == row.id))
        for school in schools:
            conn.execute(insert(StaffAccountSchool).values(account_id=row.id, org_sourced_id=school))
        return _load(conn, _row(conn, email))


def set_password(engine: Engine, email: str, password: str) -> None:
    check_password(password)
    password_hash = hasher().hash(password)
    with engine.begin() as conn:
        if _row(conn, email) is None:
            raise NotFound("no staff account with that email")
        conn.execute(update(StaffAccount).where(StaffAccount.email == normalize_email(email))
                     .values(password_hash=password_hash))


def new_totp_secret() -> str:
    import pyotp

    return pyotp.random_base32()


def totp_uri(email: str, secret: str, issuer: str = "schoolpass") -> str:
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=normalize_email(email), issuer_name=issuer)


def _totp_ok(secret: str, code: str | None, now: datetime) -> bool:
    import pyotp

    code = (code or "").replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    return pyotp.TOTP(secret).verify(code, for_time=now, valid_window=1)


def authenticate(engine: Engine, email: str, password: str, totp_code: str | None = None,
                 now: datetime | None = None) -> Account | None:
    """The account if the email, password (and one-time code, when the account has TOTP) are right.

    Every failure looks the same to the caller (None), and an unknown email costs one hash check too.
    """
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    now = now or datetime.now(UTC)
    try:
        email = normalize_email(email)
    except SchoolpassError:
        email = ""
    with engine.connect() as conn:
        row = _row(conn, email) if email else None
    if row is None or row.disabled_at is not None:
        try:
            hasher().verify(_dummy(), password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
        return None
    try:
        hasher().verify(row.password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row.totp_secret is not None and not _totp_ok(row.totp_secret, totp_code, now):
        return None
    with engine.begin() as conn:
        if hasher().check_needs_rehash(row.password_hash):
            conn.execute(update(StaffAccount).where(StaffAccount.id == row.id)
                         .values(password_hash=hasher().hash(password)))
        return _load(conn, row)


# Sessions ---------------------------------------------------------------------------------------

def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(engine: Engine, account: Account, now: datetime | None = None) -> str:
    """A new session for a signed-in account; returns the token for the cookie (stored only hashed)."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(insert(StaffSession).values(id=_session_id(token), account_id=account.id, created_at=now,
                                                 last_seen_at=now, expires_at=now + ABSOLUTE_TIMEOUT))
    return token


def lookup_session(engine: Engine, token: str | None, now: datetime | None = None) -> Account | None:
    """The live, enabled account behind a session token (and note the activity), else None."""
    if not token or len(token) > 128:
        return None
    now = now or datetime.now(UTC)
    session_id = _session_id(token)
    with engine.begin() as conn:
        found = conn.execute(
            select(StaffSession.last_seen_at, StaffSession.expires_at, StaffSession.revoked_at,
                   StaffAccount.id, StaffAccount.email, StaffAccount.role, StaffAccount.totp_secret,
                   StaffAccount.disabled_at)
            .join(StaffAccount, StaffAccount.id == StaffSession.account_id)
            .where(StaffSession.id == session_id)
        ).first()
        if found is None or found.revoked_at is not None or found.disabled_at is not None:
            return None
        if now >= found.expires_at or now - found.last_seen_at >= IDLE_TIMEOUT:
            return None
        if now - found.last_seen_at >= TOUCH_EVERY:
            conn.execute(update(StaffSession).where(StaffSession.id == session_id).values(last_seen_at=now))
        return _load(conn, found)


def revoke_session(engine: Engine, token: str | None, now: datetime | None = None) -> None:
    if not token or len(token) > 128:
        return
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(update(StaffSession).where(StaffSession.id == _session_id(token),
                                                StaffSession.revoked_at.is_(None)).values(revoked_at=now))
