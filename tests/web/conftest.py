"""The browser fixture for every web test module (one Playwright per test session)."""

from tests.web.browser import browser  # noqa: F401
