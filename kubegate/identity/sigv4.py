"""Server-side AWS Signature Version 4 verification (Authorization header and presigned query forms).

Parsing and verifying are split because the secret is only known once the caller has looked the
access key up; everything `parse_signature` returns is therefore client-asserted and unverified.
Error codes and messages follow what AWS's JSON services answer; see `SigV4Error.for_query_protocol`
for the spelling the query-protocol services (STS, IAM) use. `check_scope` is the endpoint's part:
only it knows which service and region a request was sent to.

Everything echoed back in a message is client input: it is made printable first (a presigned
query may carry bytes that are not UTF-8), and claims that must be looked up (the access key,
the session token) are refused here unless they are printable ASCII, so that nothing
downstream has to cope with them.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGNED_EXPIRES = 604800
IGNORES_EXPIRES = frozenset({"sts"})
"""Services whose presigned URLs live the +/- max_skew window whatever X-Amz-Expires says (see verify_signature)."""
INVALID_TOKEN = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
_ISO_BASIC = "%Y%m%dT%H%M%SZ"
_ISO_BASIC_RE = re.compile(r"\d{8}T\d{6}Z")
_QUERY_AUTH_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
_SINGLETON_QUERY_PARAMS = frozenset(_QUERY_AUTH_PARAMS + ("X-Amz-Expires", "X-Amz-Security-Token"))
_QUERY_PROTOCOL: dict[str, tuple[str, str | None]] = {
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", "Request is missing Authentication Token"),
    "IncompleteSignatureException": ("IncompleteSignature", None),
    "InvalidSignatureException": ("SignatureDoesNotMatch", None),
    "UnrecognizedClientException": ("InvalidClientTokenId", None),
}


class SigV4Error(Exception):
    """A request failed authentication; carries what AWS would put on the wire."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def for_query_protocol(self) -> SigV4Error:
        """STS and IAM spell the same failures without the 'Exception' suffix (SignatureDoesNotMatch...)."""
        code, message = _QUERY_PROTOCOL.get(self.code, (self.code, None))
        return SigV4Error(code, message or self.message, self.status)


def _shown(text: str) -> str:
    """Client input as it may appear in a message: undecodable bytes (kept as surrogates) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _incomplete(message: str) -> SigV4Error:
    return SigV4Error("IncompleteSignatureException", message, 400)


def _invalid(message: str) -> SigV4Error:
    return SigV4Error("InvalidSignatureException", message, 403)


@dataclass(frozen=True)
class SignedRequest:
    """What the client claims about its signature. Nothing here is trustworthy until
    `verify_signature` has accepted it with the secret of `access_key_id`."""

    access_key_id: str
    timestamp: datetime
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    security_token: str | None
    presigned: bool
    expires_in: int | None

    @property
    def credential_scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/aws4_request"


_last_parsed: tuple[tuple[str, str | None, str | None, str | None, str | None], SignedRequest] | None = None


def parse_signature(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str]) -> SignedRequest:
    """Extract the unverified signature claims, rejecting requests too malformed to verify at all.

    The claims are a function of the query and four headers only; the endpoint and the key
    lookup both parse one request, so the last parse is kept (by value, never an error) for the
    second. Verification is never skipped: this is parsing, not trust.
    """
    global _last_parsed
    key = (raw_query, headers.get("authorization"), headers.get("x-amz-date"), headers.get("date"),
           headers.get("x-amz-security-token"))
    last = _last_parsed
    if last is not None and last[0] == key:
        return last[1]
    signed = _parse_signature(raw_query, headers)
    _last_parsed = (key, signed)
    return signed


def _parse_signature(raw_query: str, headers: Mapping[str, str]) -> SignedRequest:
    authorization = headers.get("authorization")
    query = _split_query(raw_query)
    presigned = any(name == "X-Amz-Algorithm" for name, _ in query)
    if presigned and authorization is not None:
        raise SigV4Error("InvalidSignatureException", "Found both 'X-Amz-Algorithm' as a query-string param "
                         "and 'Authorization' as HTTP header.", 400)
    if presigned:
        return _parse_unverified_query(query)
    if authorization is None or not authorization.strip().startswith("AWS4-"):
        raise SigV4Error("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    return _parse_unverified_header(authorization, headers)


def _parse_unverified_header(authorization: str, headers: Mapping[str, str]) -> SignedRequest:
    algorithm, _, rest = authorization.strip().partition(" ")
    _check_algorithm(algorithm)
    fields: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise _incomplete(f"'{_shown(part)}' not a valid key=value pair (missing equal-sign) in "
                              f"Authorization header: '{_shown(authorization)}'.")
        fields[key.strip()] = value.strip()
    problems = [f"Authorization header requires '{p}' parameter. "
                for p in ("Credential", "Signature", "SignedHeaders") if p not in fields]
    raw_date = headers.get("x-amz-date") or headers.get("date")
    if not raw_date:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
    if problems:
        raise _incomplete("".join(problems) + f"Authorization={_shown(authorization)}")
    timestamp = _parse_timestamp(raw_date or "", http_date=not headers.get("x-amz-date"))
    return _unverified_claims(fields["Credential"], fields["SignedHeaders"], fields["Signature"], timestamp,
                              headers.get("x-amz-security-token"), presigned=False, expires_in=None)


def _parse_unverified_query(query: list[tuple[str, str]]) -> SignedRequest:
    params: dict[str, str] = {}
    for name, value in query:
        if name in _SINGLETON_QUERY_PARAMS:
            if name in params:
                raise _incomplete(f"AWS query-string parameters must include '{_shown(name)}' only once. "
                                  "Re-examine the query-string parameters.")
            params[name] = value
    missing = [p for p in _QUERY_AUTH_PARAMS if not params.get(p)]
    if missing:
        raise _incomplete("".join(f"AWS query-string parameters must include '{p}'. " for p in missing)
                          + "Re-examine the query-string parameters.")
    _check_algorithm(params["X-Amz-Algorithm"])
    timestamp = _parse_timestamp(params["X-Amz-Date"])
    return _unverified_claims(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"], params["X-Amz-Signature"],
                              timestamp, params.get("X-Amz-Security-Token"), presigned=True,
                              expires_in=_parse_expires(params.get("X-Amz-Expires")))


def _unverified_claims(credential: str, signed_headers: str, signature: str, timestamp: datetime,
                       security_token: str | None, *, presigned: bool, expires_in: int | None) -> SignedRequest:
    header_names = tuple(sorted({h.strip().lower() for h in signed_headers.split(";") if h.strip()}))
    if "host" not in header_names:
        raise _invalid("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    parts = credential.split("/")
    if len(parts) != 5:
        raise _incomplete("Credential must have exactly 5 slash-delimited elements, "
                          f"e.g. keyid/date/region/service/term, got '{_shown(credential)}'")
    access_key_id, scope_date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise _invalid(f"Credential should be scoped with a valid terminator: 'aws4_request', not '{_shown(terminator)}'.")
    if not _lookup_safe(access_key_id) or (security_token is not None and not _lookup_safe(security_token)):
        raise SigV4Error("UnrecognizedClientException", INVALID_TOKEN, 403)  # what an unknown key gets
    return SignedRequest(access_key_id, timestamp, scope_date, region, service, header_names, signature,
                         security_token, presigned, expires_in)


def _lookup_safe(value: str) -> bool:
    """Access key IDs and session tokens are printable ASCII; anything else is no key kubegate issued."""
    return value.isascii() and value.isprintable()


def _check_algorithm(algorithm: str) -> None:
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{_shown(algorithm)}'.")


def _parse_timestamp(value: str, *, http_date: bool = False) -> datetime:
    """X-Amz-Date is ISO-8601 basic; a client may sign with a Date header instead (botocore does if one is set)."""
    try:
        if http_date:
            parsed = parsedate_to_datetime(value)  # '-0000', botocore's zone, is naive yet UTC (RFC 5322 3.3)
            return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
        if _ISO_BASIC_RE.fullmatch(value):  # = strptime(value, _ISO_BASIC): fixed widths; datetime checks ranges
            return datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[9:11]), int(value[11:13]),
                            int(value[13:15]), tzinfo=timezone.utc)
    except (TypeError, ValueError):
        pass
    raise _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{_shown(value)}'. "
                      "See http://en.wikipedia.org/wiki/ISO_8601")


def _parse_expires(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not value.isascii():
        raise _incomplete("X-Amz-Expires should be a number")
    digits = value.lstrip("0") or "0"  # never int() thousands of digits, leading zeros included
    if len(digits) > len(str(MAX_PRESIGNED_EXPIRES)):
        raise _incomplete(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}")
    seconds = int(digits)
    if seconds < 1:
        raise _incomplete("X-Amz-Expires must be a positive number of seconds")
    if seconds > MAX_PRESIGNED_EXPIRES:
        raise _incomplete(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}")
    return seconds


def _split_query(raw_query: str) -> list[tuple[str, str]]:
    """Decode to str losslessly (surrogateescape) so that re-encoding yields exactly the wire bytes'
    meaning; a lossy decode would let two different queries share one canonical form."""
    pairs: list[tuple[str, str]] = []
    for item in filter(None, raw_query.split("&")):
        name, _, value = item.partition("=")
        pairs.append((_unquote(name), _unquote(value)))
    return pairs


def _unquote(text: str) -> str:
    # '+' means space, as in the form decoding the application layer applies to the same query.
    return unquote_to_bytes(text.replace("+", " ")).decode("utf-8", "surrogateescape")


def _rfc3986(text: str) -> str:
    return quote(text.encode("utf-8", "surrogateescape"), safe="-_.~")


def verify_signature(signed: SignedRequest, *, method: str, raw_path: str, raw_query: str,
                     headers: Mapping[str, str], body: bytes, secret_access_key: str,
                     now: datetime, max_skew: timedelta = timedelta(minutes=15)) -> None:
    """Accept the request only if the claims in `signed` are fresh and were signed with this secret.

    Presigned URLs get the same +/- max_skew window around X-Amz-Date as signed headers and must
    also be used within X-Amz-Expires seconds of it, except STS's: STS only range-checks
    X-Amz-Expires, and `aws eks get-token` relies on that (it presigns with X-Amz-Expires=60 but
    tells kubectl the token lasts 14 minutes).
    """
    _check_clock(signed.timestamp, now, max_skew)
    if signed.presigned and signed.expires_in is not None and signed.service not in IGNORES_EXPIRES:
        _check_expiry(signed.timestamp, signed.expires_in, now)
    _check_scope_date(signed)
    query = [(n, v) for n, v in _split_query(raw_query) if not (signed.presigned and n == "X-Amz-Signature")]
    key = _signing_key(secret_access_key, signed)
    provided = signed.signature.encode("utf-8", "replace")
    matched = False
    for payload_hash in _payload_hash_candidates(signed, headers, body):
        canonical = _canonical_request(method, raw_path, query, signed.signed_headers, headers, payload_hash)
        string_to_sign = "\n".join((ALGORITHM, signed.timestamp.strftime(_ISO_BASIC), signed.credential_scope,
                                    hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()))
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest().encode()
        matched |= hmac.compare_digest(expected, provided)
    if not matched:
        raise _invalid(SIGNATURE_MISMATCH)


def _check_clock(timestamp: datetime, now: datetime, max_skew: timedelta) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    minutes = int(max_skew.total_seconds() // 60)
    stamp, fmt = timestamp.strftime(_ISO_BASIC), _ISO_BASIC
    if timestamp < now - max_skew:
        raise _invalid(f"Signature expired: {stamp} is now earlier than {(now - max_skew).strftime(fmt)} "
                       f"({now.strftime(fmt)} - {minutes} min.)")
    if timestamp > now + max_skew:
        raise _invalid(f"Signature not yet current: {stamp} is still later than {(now + max_skew).strftime(fmt)} "
                       f"({now.strftime(fmt)} + {minutes} min.)")


def _check_expiry(timestamp: datetime, expires_in: int, now: datetime) -> None:
    """A presigned URL is good until X-Amz-Date + X-Amz-Expires (inclusive); worded like the clock check."""
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    if timestamp < now - timedelta(seconds=expires_in):
        raise _invalid(f"Signature expired: {timestamp.strftime(_ISO_BASIC)} is now earlier than "
                       f"{(now - timedelta(seconds=expires_in)).strftime(_ISO_BASIC)} "
                       f"({now.strftime(_ISO_BASIC)} - {expires_in} sec.)")


def check_scope(signed: SignedRequest, *, service: str, regions: Collection[str]) -> None:
    """The credential scope must name the service the request was sent to and one of its regions.

    AWS reports both problems at once, in this order, with these words, in both the header
    and the presigned form.
    """
    problems = []
    if signed.region not in regions:
        problems.append(f"Credential should be scoped to a valid region, not '{_shown(signed.region)}'.")
    if signed.service != service:
        problems.append(f"Credential should be scoped to correct service: '{service}'.")
    if problems:
        raise _invalid(" ".join(problems))


def _check_scope_date(signed: SignedRequest) -> None:
    day = signed.timestamp.strftime("%Y%m%d")
    if signed.scope_date != day:
        raise _invalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                       f"HTTP: '{_shown(signed.scope_date)}' != '{day}', from '{signed.timestamp.strftime(_ISO_BASIC)}'.")


def _payload_hash_candidates(signed: SignedRequest, headers: Mapping[str, str], body: bytes) -> list[str]:
    """A claimed x-amz-content-sha256 is honoured only if it is true, so the body is always covered;
    UNSIGNED-PAYLOAD is tolerated only when there is no body to leave unauthenticated."""
    actual = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is None:
        return [actual, UNSIGNED_PAYLOAD] if signed.presigned and not body else [actual]
    if claimed == actual or (claimed == UNSIGNED_PAYLOAD and not body):
        return [claimed]
    return []


def _canonical_request(method: str, raw_path: str, query: list[tuple[str, str]], signed_headers: tuple[str, ...],
                       headers: Mapping[str, str], payload_hash: str) -> str:
    canonical_query = "&".join(f"{n}={v}" for n, v in sorted((_rfc3986(n), _rfc3986(v)) for n, v in query))
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)
    return "\n".join((method.upper(), _canonical_uri(raw_path), canonical_query, canonical_headers,
                      ";".join(signed_headers), payload_hash))


def _canonical_uri(raw_path: str) -> str:
    """Non-S3 services sign the wire path encoded once more ('%3A' -> '%253A'), after dropping
    dot segments and empty segments the way the SDKs do before signing."""
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    path = "/" + "/".join(segments)
    if segments and raw_path.endswith("/"):
        path += "/"
    return quote(path.encode("utf-8", "surrogateescape"), safe="/~")


def _signing_key(secret_access_key: str, signed: SignedRequest) -> bytes:
    key = ("AWS4" + secret_access_key).encode()
    for part in (signed.scope_date, signed.region, signed.service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
    return key
