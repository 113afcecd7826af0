"""Opaque pagination tokens: the caller cannot forge a position it was not given.

EKS and IAM paginate alike but name the token and refuse a bad one differently: EKS's
``nextToken`` is an ``InvalidParameterException``, IAM's ``Marker`` the common
``ValidationError``. The caller says which with a :class:`TokenParameter`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from kubegate.domain.errors import DomainError, InvalidParameter, ValidationError

DEFAULT_PAGE_SIZE = 100
# Tokens kubegate issues hold one key (a name or an ARN, at most ~900 characters once
# encoded); anything much longer was not issued here and is refused before it is decoded.
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class TokenParameter:
    """A service's pagination token: its parameter name and the error a bad one gets."""

    name: str
    error: type[DomainError]
    message: str

    def invalid(self) -> DomainError:
        return self.error(self.message)


NEXT_TOKEN = TokenParameter("nextToken", InvalidParameter, "The nextToken parameter is invalid")
# IAM's wording is not documented; "Invalid Marker." is what IAM emulators report it answers.
MARKER = TokenParameter("Marker", ValidationError, "Invalid Marker.")


def encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_token(token: str | None, parameter: TokenParameter = NEXT_TOKEN) -> str | None:
    """The key a token resumes after; anything kubegate did not issue is ``parameter``'s error.

    RecursionError is caught because the token is the caller's: base64 of ``[[[[…`` would
    otherwise make the JSON decoder give up deep in its own recursion.
    """
    if token is None:
        return None
    if len(token) > MAX_TOKEN_LENGTH:
        raise parameter.invalid()
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeEncodeError, binascii.Error, RecursionError):
        raise parameter.invalid() from None
    after = decoded.get("after") if isinstance(decoded, dict) else None
    if not isinstance(after, str):
        raise parameter.invalid()
    return after


def page(
    keys: Sequence[str], max_results: int | None, token: str | None, *, parameter: TokenParameter = NEXT_TOKEN,
) -> tuple[list[str], str | None]:
    """One page of sorted, unique ``keys`` and the token for the next one (None at the end)."""
    after = decode_token(token, parameter)
    remaining = [k for k in keys if after is None or k > after]
    size = max_results or DEFAULT_PAGE_SIZE
    chosen = remaining[:size]
    return chosen, encode_token(chosen[-1]) if len(remaining) > size else None
