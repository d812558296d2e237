"""Disclosure safety: the tamper-evident ledger of every message sent, and what is built on it."""
