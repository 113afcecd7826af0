"""IAM OpenID Connect providers: which issuers' ID tokens STS's AssumeRoleWithWebIdentity takes.

A provider is named by its URL without the scheme (``host[:port][/path]``): that string is
the resource part of its ARN (``oidc-provider/<url>``), the prefix of the condition keys a
trust policy reads (``<url>:sub``, ``<url>:aud``, ``<url>:amr``), and ``https://<url>`` must
equal a token's ``iss`` exactly. Unlike AWS, kubegate accepts a port: offline identity
providers listen on one.

Errors of web-identity federation (STS's wire codes are the class names):

    DomainError
     ├─ InvalidIdentityToken  the token is not one kubegate can trust (unregistered issuer,
     │                        bad signature or claims, an audience not in the client ID list)
     ├─ ExpiredIdentityToken  the token's exp has passed (STS ``ExpiredTokenException``)
     └─ IDPRejectedClaim      the token is valid but asks for something kubegate refuses

No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from kubegate.domain.errors import DomainError, InvalidInput, LimitExceeded

MAX_CLIENT_IDS = 100
MAX_THUMBPRINTS = 5
MAX_PROVIDERS = 100
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}", re.ASCII)
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", re.ASCII)
_PATH = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*", re.ASCII)
BAD_URL = "Invalid Openid Connect Provider URL"


class InvalidIdentityToken(DomainError):
    """The web identity token cannot be trusted (STS ``InvalidIdentityToken``, 400)."""


class ExpiredIdentityToken(DomainError):
    """The web identity token has expired (STS ``ExpiredTokenException``, 400)."""


class IDPCommunicationError(DomainError):
    """kubegate cannot ask the provider now: it is busy with as many checks as it allows (STS
    ``IDPCommunicationError``, 400). The caller may try again."""


class IDPRejectedClaim(DomainError):
    """The token's claims ask for something kubegate refuses (STS ``IDPRejectedClaim``, 403)."""


@dataclass(frozen=True)
class OidcProvider:
    """One IAM OIDC provider, as CreateOpenIDConnectProvider stored it."""

    url: str  # host[:port][/path], no scheme: the ARN's resource part and the condition keys' prefix
    arn: str
    client_ids: tuple[str, ...]  # a token's aud must be one of these
    thumbprints: tuple[str, ...]  # stored and shown; kubegate verifies TLS with its CA file instead
    created_at: datetime

    @property
    def issuer(self) -> str:
        """What a token's ``iss`` must equal."""
        return f"https://{self.url}"


def provider_url(given: str) -> str:
    """The provider's name from CreateOpenIDConnectProvider's Url: https only, no user info,
    query or fragment; a port is allowed (AWS allows none)."""
    try:
        parts = urlsplit(given)
        port = parts.port
    except ValueError:
        raise InvalidInput(BAD_URL) from None
    host = parts.hostname or ""
    if (
        parts.scheme != "https" or not given.startswith("https://") or "@" in parts.netloc
        or parts.query or parts.fragment or "?" in given or "#" in given
        or not _HOST.fullmatch(host) or host != parts.netloc.split(":")[0]
        or (port is not None and not 0 < port < 65536)
        or not _PATH.fullmatch(parts.path.rstrip("/") if parts.path != "/" else "")
    ):
        raise InvalidInput(BAD_URL)
    name = parts.netloc + parts.path  # as given: a trailing "/" is part of some issuers' iss
    if len(name) > 255 or not name.isascii() or any(c.isspace() for c in name):
        raise InvalidInput(BAD_URL)
    return name


def provider_arn(partition: str, account: str, url: str) -> str:
    return f"arn:{partition}:iam::{account}:oidc-provider/{url}"


def check_client_ids(client_ids: tuple[str, ...]) -> tuple[str, ...]:
    """IAM keeps each client ID once, in the order given, at most 100."""
    unique = tuple(dict.fromkeys(client_ids))
    if len(unique) > MAX_CLIENT_IDS:
        raise LimitExceeded(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
    return unique


def check_thumbprints(thumbprints: tuple[str, ...]) -> tuple[str, ...]:
    if len(thumbprints) > MAX_THUMBPRINTS:
        raise LimitExceeded(f"Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: {MAX_THUMBPRINTS}")
    for thumbprint in thumbprints:
        if not _THUMBPRINT.fullmatch(thumbprint):
            raise InvalidInput(f"Thumbprint {thumbprint} is not a valid SHA-1 hex digest")
    return tuple(dict.fromkeys(t.lower() for t in thumbprints))


def claim_keys(provider: OidcProvider, claims: Mapping[str, object], audience: str) -> dict[str, tuple[str, ...]]:
    """The provider's condition keys AWS sets from a verified token: ``<url>:sub``, ``<url>:aud``
    (the audience the token was accepted for) and ``<url>:amr`` when the token carries one."""
    keys: dict[str, tuple[str, ...]] = {
        f"{provider.url}:sub": (str(claims.get("sub", "")),),
        f"{provider.url}:aud": (audience,),
    }
    amr = claims.get("amr")
    if isinstance(amr, str):
        keys[f"{provider.url}:amr"] = (amr,)
    elif isinstance(amr, list) and amr:
        keys[f"{provider.url}:amr"] = tuple(str(item) for item in amr)
    return keys
