"""Generators of AWS-looking identifiers and secrets (unique IDs, access keys, session tokens)."""

from __future__ import annotations

import base64
import secrets
import string

_ID_ALPHABET = string.ascii_uppercase + string.digits
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "/+"


def unique_id(prefix: str) -> str:
    """An IAM unique ID: AIDA (user), AROA (role), ANPA (policy) + 17 characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def access_key_id(prefix: str = "AKIA") -> str:
    """AKIA for long-term keys, ASIA for session keys."""
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def secret_access_key() -> str:
    """40 characters of AWS's alphabet; never a leading '-' that a command line would take for an option."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def session_token() -> str:
    return base64.b64encode(secrets.token_bytes(96)).decode()


def account_id() -> str:
    return "".join(secrets.choice(string.digits) for _ in range(12))
