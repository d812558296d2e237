"""The daily pass: an Ed25519-signed token for (person, school, date), and its QR code.

Token: `sp1.` + base64url(payload JSON) + `.` + base64url(Ed25519 signature over the payload
bytes), payload `{"s": id, "n": given name, "i": family initial, "sch": school, "d": YYYY-MM-DD}`.
The gate verifies it with the public key alone; keys come only from the environment
(`SCHOOLPASS_PASS_PRIVATE_KEY`, optionally `SCHOOLPASS_PASS_PUBLIC_KEY` for a gate-only setup).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date

from schoolpass.errors import SchoolpassError

PASS_PREFIX = "sp1"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_private_key(text: str):
    """An Ed25519 private key from PEM, or base64 (standard or url-safe) of its raw 32 bytes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SchoolpassError("SCHOOLPASS_PASS_PRIVATE_KEY is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SchoolpassError("SCHOOLPASS_PASS_PRIVATE_KEY is neither PEM nor base64") from None
    if len(raw) != 32:
        raise SchoolpassError("SCHOOLPASS_PASS_PRIVATE_KEY must be 32 raw bytes (base64) or PEM")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(text: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise SchoolpassError("SCHOOLPASS_PASS_PUBLIC_KEY is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SchoolpassError("SCHOOLPASS_PASS_PUBLIC_KEY is neither PEM nor base64") from None
    if len(raw) != 32:
        raise SchoolpassError("SCHOOLPASS_PASS_PUBLIC_KEY must be 32 raw bytes (base64) or PEM")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class PassKeys:
    private: object | None  # Ed25519PrivateKey: signs passes (family portal)
    public: object | None  # Ed25519PublicKey: verifies them (gate)


def pass_keys(settings) -> PassKeys:
    """The configured keys; a missing or unreadable key disables what needs it."""
    private = public = None
    try:
        if settings.pass_private_key:
            private = load_private_key(settings.pass_private_key)
            public = private.public_key()
        if settings.pass_public_key:
            public = load_public_key(settings.pass_public_key)
    except (SchoolpassError, ValueError, TypeError):
        return PassKeys(None, None)
    return PassKeys(private, public)


def sign_pass(private_key, subject_id: str, given_name: str, family_initial: str, school: str, day: date) -> str:
    payload = json.dumps({"s": subject_id, "n": given_name, "i": family_initial, "sch": school,
                          "d": day.isoformat()}, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return f"{PASS_PREFIX}.{_b64e(payload)}.{_b64e(private_key.sign(payload))}"


@dataclass(frozen=True)
class PassCheck:
    valid: bool
    given_name: str = ""
    family_initial: str = ""
    school: str = ""


def verify_pass(public_key, token: str, today: date) -> PassCheck:
    """Check a pass with the public key alone: the signature, then that it is for `today`."""
    from cryptography.exceptions import InvalidSignature

    parts = (token or "").strip().split(".")
    if public_key is None or len(parts) != 3 or parts[0] != PASS_PREFIX or len(token) > 2000:
        return PassCheck(False)
    try:
        payload, signature = _b64d(parts[1]), _b64d(parts[2])
        public_key.verify(signature, payload)
        data = json.loads(payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return PassCheck(False)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("s", "n", "i", "sch", "d")):
        return PassCheck(False)
    if data["d"] != today.isoformat():
        return PassCheck(False)
    return PassCheck(True, data["n"], data["i"], data["sch"])


def qr_data_uri(text: str) -> str:
    import segno

    return segno.make(text, error="m").svg_data_uri(scale=5, border=4)
