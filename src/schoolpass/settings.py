"""Settings from flags and the environment (SCHOOLPASS_*); secrets never come from files in the repo."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import ValidationError, field_validator
from schoolpass.errors import SchoolpassError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///schoolpass.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCHOOLPASS_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # A policy file for this run only (else the stored one, else the built-in default).
    policy: str | None = None
    # The district's calendar: "today" and business dates are days in this zone.
    timezone: str = "America/Los_Angeles"

    # Mail (CONTRACT section 1). With no SMTP URL, nothing is ever sent: there is no fallback.
    smtp_url: str | None = None
    mail_from: str = "schoolpass@localhost"
    reply_to: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    # Limits across all senders together (None: unlimited).
    send_rate: int | None = None  # messages per minute
    daily_cap: int | None = None  # messages per district day
    retry_base_seconds: float = 60.0
    retry_attempts: int = 10
    # How long a sender's claim on messages lasts without a sign of life before others take them over.
    send_lease_seconds: float = 300.0
    # Link tokens (and anything else that could reopen a message) are purged after this many days;
    # ledger entries stay (6 years of accounting).
    retention_days: int = 30
    # Printed on breach notification letters.
    district_name: str = "School District Health Office"
    district_phone: str = "the number on your school's website"
    # Daily pass signing key (Ed25519): PEM or base64 of the raw 32-byte private key. Unset: no passes.
    pass_private_key: str | None = None
    # A gate that only verifies may hold just the public key (PEM or base64 raw 32 bytes); else derived.
    pass_public_key: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    @field_validator("send_rate", "daily_cap", "retry_attempts", "retention_days")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("retry_base_seconds", "send_lease_seconds")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must not be negative")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with non-None command-line overrides on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SCHOOLPASS_" + str(first["loc"][0]).upper() if first.get("loc") else "a setting"
        raise SchoolpassError(f"{name}: {first['msg']}") from None
