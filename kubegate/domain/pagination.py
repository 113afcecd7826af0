"""Opaque pagination tokens: the caller cannot forge a position it was not given."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TypeVar

from kubegate.domain.errors import InvalidParameter

DEFAULT_PAGE_SIZE = 100
T = TypeVar("T")


def encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter("The nextToken parameter is invalid") from None
    if not isinstance(after, str):
        raise InvalidParameter("The nextToken parameter is invalid")
    return after


def page(keys: Sequence[str], max_results: int | None, next_token: str | None) -> tuple[list[str], str | None]:
    """One page of sorted, unique ``keys`` and the token for the next one (None at the end)."""
    after = decode_token(next_token)
    remaining = [k for k in keys if after is None or k > after]
    size = max_results or DEFAULT_PAGE_SIZE
    chosen = remaining[:size]
    return chosen, encode_token(chosen[-1]) if len(remaining) > size else None
