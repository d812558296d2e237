"""The languages notices are written in, chosen from a recipient's BCP 47 `metadata.language`."""

SUPPORTED = ("en", "es")
DEFAULT = "en"


def message_language(tag: str | None) -> str:
    """`es-MX` → `es`; absent or unsupported → `en`."""
    if not tag:
        return DEFAULT
    primary = tag.split("-", 1)[0].lower()
    return primary if primary in SUPPORTED else DEFAULT
