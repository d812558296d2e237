"""Settings from flags and the environment (SCHOOLPASS_*); secrets never come from files in the repo."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///schoolpass.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCHOOLPASS_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # A policy file for this run only (else the stored one, else the built-in default).
    policy: str | None = None
    # The district's calendar: "today" and business dates are days in this zone.
    timezone: str = "America/Los_Angeles"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with non-None command-line overrides on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)
