"""The web app: result links today; the staff console and family portal build on it."""
