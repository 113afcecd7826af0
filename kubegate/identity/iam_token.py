"""IAM bearer tokens (`k8s-aws-v1.`), verified the way aws-iam-authenticator (EKS) does.

Map of the module (spec: shared/spec/iam-token.md §2):

    TokenError(kind)            "format" (bad token), "sts" (STS said no / failed), "throttled"
    StsEndpointPolicy           which presigned-URL hosts may be called at all (§2.1, strict per region)
    parse_token(...)            rows 1-20: local checks only, no I/O -> UnverifiedPresignedUrl
    StsClient (Protocol)        rows 21-26: the GET that makes the token mean anything
      HttpStsClient             ... to a real STS over HTTPS, never following redirects (connect 2 s, 5 s in all)
    sts_identity(...)           §2.2: STS's answer -> StsIdentity (canonical ARN, session, key id)
    TokenVerifier.verify(...)   check_locally (parse_token), then confirm (the StsClient)

Nothing before the STS call proves who made the token: the signature is checked by STS alone.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal, Protocol
from urllib.parse import unquote_to_bytes, urlsplit

import httpx

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
MAX_TOKEN_BYTES = 4096  # AIA parity; see spec §5.4 for the 16 KiB proposal
PRESIGN_VALIDITY = timedelta(minutes=15)  # STS's window for a presigned GetCallerIdentity, whatever X-Amz-Expires says
MAX_FUTURE_SKEW = timedelta(minutes=5)  # Rec. (§7.1 #43): a future date would stretch the token's life
MAX_EXPIRES = 900
MAX_STS_BODY = 1 << 20
GLOBAL_STS_HOST = "sts.amazonaws.com"
# Anyone who can reach a kube-apiserver can make kubegate call AWS's STS (no credentials needed to
# forge a token), so each call is kept short; a healthy STS answers in well under a second.
STS_TIMEOUT = 5.0  # the whole exchange
STS_CONNECT_TIMEOUT = 2.0

TokenKind = Literal["format", "sts", "throttled"]
PrincipalType = Literal["root", "user", "role", "assumed-role", "federated-user"]

_PREFIXES: dict[TokenKind, str] = {
    "format": "input token was not properly formatted: ",
    "sts": "sts getCallerIdentity failed: ",
    "throttled": "sts getCallerIdentity was throttled: ",
}
# partition -> (STS domain, dual-stack domain, region pattern from botocore's partitions.json)
_PARTITIONS: dict[str, tuple[str, str | None, str]] = {
    "aws": ("amazonaws.com", "api.aws", r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+"),
    "aws-cn": ("amazonaws.com.cn", "api.amazonwebservices.com.cn", r"cn-\w+-\d+"),
    "aws-us-gov": ("amazonaws.com", "api.aws", r"us-gov-\w+-\d+"),
    "aws-iso": ("c2s.ic.gov", None, r"us-iso-\w+-\d+"),
    "aws-iso-b": ("sc2s.sgov.gov", None, r"us-isob-\w+-\d+"),
    "aws-iso-e": ("cloud.adc-e.uk", None, r"eu-isoe-\w+-\d+"),
    "aws-iso-f": ("csp.hci.ic.gov", None, r"us-isof-\w+-\d+"),
    "aws-eusc": ("amazonaws.eu", "api.amazonwebservices.eu", r"eusc-(de)-\w+-\d+"),
}
_ALLOWED_PARAMS = frozenset({
    "action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
    "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders",
})
_NOT_BASE64URL = re.compile(r"[^A-Za-z0-9_-]")
# RFC 3986 characters minus '#': anything else would be re-encoded by the HTTP client, changing what STS checks.
_NOT_URL_CHAR = re.compile(r"[^A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_GO_ATOI = re.compile(r"[+-]?[0-9]{1,18}")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_HEADER_VALUE = re.compile(r"[\x21-\x7e]{1,256}")
_AUTHORITY = re.compile(r"[^:/?#]*://([^/?#]*)")


class TokenError(Exception):
    """Why a token was refused; `kind` tells whose fault it is, so the webhook can pick 403 or 429.

    `message` carries the full reason for logs and the kube-apiserver; never show it to the caller.
    """

    def __init__(self, kind: TokenKind, detail: str) -> None:
        self.kind: TokenKind = kind
        self.detail = detail
        self.message = _PREFIXES[kind] + detail
        super().__init__(self.message)


def _format(detail: str) -> TokenError:
    return TokenError("format", detail)


@dataclass(frozen=True, kw_only=True)
class StsEndpointPolicy:
    """The STS hosts a token may send us to: the regions configured, never a look-alike (§2.1).

    AIA accepts any alphanumeric label as a region; here each region must match its partition's
    pattern and be listed, and the host is compared as written (no port, userinfo, dot or case games).
    `extra_hosts` are exact `host[:port]` strings, e.g. kubegate's embedded STS.
    """

    partition: str = "aws"
    regions: frozenset[str]
    extra_hosts: frozenset[str] = frozenset()
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.partition not in _PARTITIONS:
            raise ValueError(f"unknown partition {self.partition!r}")
        object.__setattr__(self, "regions", frozenset(self.regions))
        object.__setattr__(self, "extra_hosts", frozenset(self.extra_hosts))
        domain, dual_stack, region_pattern = _PARTITIONS[self.partition]
        foreign = sorted(r for r in self.regions if not re.fullmatch(region_pattern, r, re.ASCII))
        if foreign:
            raise ValueError(f"not regions of partition {self.partition}: {', '.join(foreign)}")
        domains = [d for d in (domain, dual_stack) if d]
        hosts = {f"{name}.{region}.{d}" for name in ("sts", "sts-fips") for region in self.regions for d in domains}
        if self.partition == "aws":
            hosts.add(GLOBAL_STS_HOST)
        object.__setattr__(self, "_hosts", frozenset(hosts | set(self.extra_hosts)))

    def allows(self, host: str) -> bool:
        return host in self._hosts

    def region_label(self, host: str) -> str:
        """A bounded label for logs and metrics: AIA's region label, or the host for an extra host."""
        if host in self.extra_hosts:
            return host
        return "global" if host == GLOBAL_STS_HOST else host.split(".")[1]


@dataclass(frozen=True, slots=True)
class UnverifiedPresignedUrl:
    """A token that passed every local check. Nothing here is proven until STS accepts `url`."""

    url: str
    host: str
    access_key_id: str
    date: datetime
    region_label: str


def parse_token(token: str, *, policy: StsEndpointPolicy, now: datetime) -> UnverifiedPresignedUrl:
    """Every check that needs no network, cheapest first, in AIA's order (§2 rows 1-20)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    url = _decode_token(token)  # rows 1-3
    host, raw_query = _split_url(url, policy)  # rows 4-8
    params = _single_params(_query_values(raw_query))  # rows 9-12
    if params.get("action") != "GetCallerIdentity":  # row 13; Version is not checked (row 14)
        raise _format("unexpected action parameter in pre-signed URL")
    if not any(_ascii_lower(h) == CLUSTER_ID_HEADER for h in params.get("x-amz-signedheaders", "").split(";")):
        raise _format(f"client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL")  # row 15
    _check_expires(params.get("x-amz-expires", ""))  # row 16
    date = _check_date(params.get("x-amz-date", ""), now)  # rows 17, 19, 20 and §7.1 #43
    access_key_id = params.get("x-amz-credential", "").split("/")[0]  # row 18
    return UnverifiedPresignedUrl(url, host, access_key_id, date, policy.region_label(host))


def _decode_token(token: str) -> str:
    if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
        raise _format("token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise _format(f'token is missing expected "{TOKEN_PREFIX}" prefix')
    payload = token[len(TOKEN_PREFIX):]
    # Python's decoder skips foreign characters and tolerates '='; Go's RawURLEncoding does not.
    bad = _NOT_BASE64URL.search(payload)
    if bad or len(payload) % 4 == 1:
        raise _format(f"illegal base64 data at input byte {bad.start() if bad else len(payload) - 1}")
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except UnicodeDecodeError:
        raise _format("pre-signed URL is not UTF-8") from None


def _split_url(url: str, policy: StsEndpointPolicy) -> tuple[str, str]:
    """Split by hand: urllib lower-cases and strips the host, which would hide what the URL names."""
    bad = _NOT_URL_CHAR.search(url)
    if bad:
        raise _format(f"invalid character {bad.group()!r} in pre-signed URL")
    if url.startswith(":"):
        raise _format(f'parse "{url}": missing protocol scheme')
    scheme = _SCHEME.match(url)
    if scheme is None or scheme.group(1).lower() != "https":
        raise _format(f'unexpected scheme "{scheme.group(1).lower() if scheme else ""}" in pre-signed URL')
    rest = url[scheme.end():]
    authority, path, raw_query = "", rest, ""
    if rest.startswith("//"):
        cut = min((i for i in (rest.find("/", 2), rest.find("?", 2)) if i >= 0), default=len(rest))
        authority, path = rest[2:cut], rest[cut:]
    path, _, raw_query = path.partition("?")
    if not policy.allows(authority):
        if authority.count(".") < 2:
            raise _format(f"could not parse region for pre-signed URL {authority}, invalid host format: {authority}")
        raise _format(f'unexpected hostname "{authority}" in pre-signed URL')
    if path != "/":
        raise _format("unexpected path in pre-signed URL")
    return authority, raw_query


def _query_values(raw_query: str) -> dict[str, list[str]]:
    """Go's url.ParseQuery, which refuses raw ';' and bad escapes where parse_qsl lets them through."""
    values: dict[str, list[str]] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        if ";" in part:
            raise _format("malformed query parameter: invalid semicolon separator in query")
        key, _, value = part.partition("=")
        values.setdefault(_unescape(key), []).append(_unescape(value))
    return values


def _unescape(text: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise _format(f"malformed query parameter: invalid URL escape in {text!r}")
    try:
        return unquote_to_bytes(text.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise _format("malformed query parameter: not UTF-8") from None


def _ascii_lower(text: str) -> str:
    """Unicode lower-casing maps e.g. the Kelvin sign to 'k'; STS would not, so only ASCII folds."""
    return text.lower() if text.isascii() else text


def _single_params(values: dict[str, list[str]]) -> dict[str, str]:
    """Case variants are refused first: CVE-2022-2385 let `x-amz-credential` shadow `X-Amz-Credential`."""
    seen: set[str] = set()
    for key in values:
        if _ascii_lower(key) in seen:
            raise _format(f'duplicate query parameter found: "{key}"')
        seen.add(_ascii_lower(key))
    for key in values:
        if _ascii_lower(key) not in _ALLOWED_PARAMS:
            raise _format(f'non-whitelisted query parameter "{key}"')
    if any(len(v) > 1 for v in values.values()):
        raise _format("query parameter with multiple values not supported")
    return {_ascii_lower(key): v[0] for key, v in values.items()}


def _check_expires(text: str) -> None:
    """Only range-checked: STS ignores X-Amz-Expires for GetCallerIdentity (the window is 15 minutes)."""
    seconds = int(text) if _GO_ATOI.fullmatch(text) else -1
    if not 0 <= seconds <= MAX_EXPIRES:
        raise _format(f"invalid X-Amz-Expires parameter in pre-signed URL: {text!r}")


def _check_date(text: str, now: datetime) -> datetime:
    if not text:
        raise _format("X-Amz-Date parameter must be present in pre-signed URL")
    try:
        if not _AMZ_DATE.fullmatch(text):  # strptime alone would take one-digit months and days
            raise ValueError(text)
        date = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise _format(f"error parsing X-Amz-Date parameter {text!r} into format 20060102T150405Z") from None
    if now > date + PRESIGN_VALIDITY:
        raise _format(f"X-Amz-Date parameter is expired (15 minute expiration) {text}")
    if date > now + MAX_FUTURE_SKEW:
        raise _format(f"X-Amz-Date parameter is in the future {text}")
    return date


@dataclass(frozen=True, slots=True)
class StsIdentity:
    """The caller as STS named it (§2.2), plus what the authenticator derives from it.

    `session_name` is chosen by whoever assumed the role, unless only EC2 can assume it.
    `access_key_id` comes from the token, not STS: trustworthy only because case-variant
    duplicates of X-Amz-Credential are refused.
    """

    account: str
    arn: str
    user_id: str  # STS's UserId verbatim: "AROA…:session" for a role session
    principal_type: PrincipalType
    canonical_arn: str  # assumed-role session -> role/<name>; anything else unchanged
    principal_id: str  # AIA's UserID (TokenReview uid, extra principalId): user_id without the session
    session_name: str  # "" unless a role
    access_key_id: str
    sts_host: str


class StsClient(Protocol):
    def get_caller_identity(self, url: str, *, cluster_id: str) -> StsIdentity:
        """Call the presigned URL with `cluster_id` in x-k8s-aws-id; raise TokenError("sts"/"throttled")."""
        ...


def _sts(detail: str) -> TokenError:
    return TokenError("sts", detail)


def canonicalize_arn(arn: str) -> tuple[PrincipalType, str]:
    """AIA's arn.Canonicalize: a session becomes its role, without the role path STS never reports."""
    fields = arn.split(":", 5)
    if len(fields) != 6 or fields[0] != "arn":
        raise _sts(f"arn '{arn}' is invalid: 'arn: invalid prefix or not enough sections'")
    _, partition, service, _, account, resource = fields
    if partition not in _PARTITIONS:
        raise _sts(f"arn '{arn}' does not have a recognized partition")
    parts = resource.split("/")
    if service == "sts" and parts[0] == "federated-user":
        return "federated-user", arn
    if service == "sts" and parts[0] == "assumed-role":
        if len(parts) < 3 or not all(parts[1:]):
            raise _sts(f"assumed-role arn '{arn}' does not have a role")
        return "assumed-role", f"arn:{partition}:iam::{account}:role/{'/'.join(parts[1:-1])}"
    if service == "iam" and resource == "root":
        return "root", arn
    if service == "iam" and parts[0] in ("user", "role") and len(parts) > 1 and all(parts[1:]):
        return ("user" if parts[0] == "user" else "role"), arn
    raise _sts(f"unrecognized resource {resource} for service {service} in arn '{arn}'")


def sts_identity(*, account: str, arn: str, user_id: str, url: str) -> StsIdentity:
    """Row 26 for any StsClient: derive the authenticator's fields from STS's answer and the token URL."""
    principal_type, canonical_arn = canonicalize_arn(arn)
    if arn.split(":")[4] != account:
        raise _sts(f"account {account!r} does not own arn '{arn}'")
    principal_id, session_name = user_id, ""
    if principal_type in ("role", "assumed-role"):
        parts = user_id.split(":")
        if len(parts) != 2:
            raise _sts(f"malformed UserID {user_id!r}")
        principal_id, session_name = parts
    _, _, raw_query = url.partition("?")
    credential = next((v[0] for k, v in _query_values(raw_query).items() if _ascii_lower(k) == "x-amz-credential"), "")
    return StsIdentity(account, arn, user_id, principal_type, canonical_arn, principal_id, session_name,
                       credential.split("/")[0], _authority(url))


def _authority(url: str) -> str:
    match = _AUTHORITY.match(url)
    return match.group(1) if match else ""


class HttpStsClient:
    """GetCallerIdentity at a real STS. Redirects are returned, not followed: a 3xx is a refusal.

    `unsafe_endpoint_override` (testing only, loopback addresses only) sends every call to that
    base URL instead of the host the token names, e.g. to a listener that never answers.
    """

    def __init__(
        self, *, ca_bundle: str | None = None, timeout: float = STS_TIMEOUT,
        connect_timeout: float = STS_CONNECT_TIMEOUT, unsafe_endpoint_override: str | None = None,
    ) -> None:
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self._timeout = timeout
        self._override = None if unsafe_endpoint_override is None else loopback_base_url(unsafe_endpoint_override)
        limits = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        self._http = httpx.Client(verify=verify, timeout=limits, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def get_caller_identity(self, url: str, *, cluster_id: str) -> StsIdentity:
        host = _authority(url)
        status, body = self._get(url, cluster_id, host)
        if status != 200:
            excerpt = body[:512].decode("utf-8", "replace")
            detail = f"error from AWS (expected 200, got {status}) on {host} endpoint. Body: {excerpt}"
            raise TokenError("throttled" if b"Throttling" in body else "sts", detail)
        account, arn, user_id = _parse_answer(body)
        return sts_identity(account=account, arn=arn, user_id=user_id, url=url)

    def _get(self, url: str, cluster_id: str, host: str) -> tuple[int, bytes]:
        """The whole exchange gets one deadline, as Go's http.Client.Timeout does (httpx's is per read)."""
        deadline = time.monotonic() + self._timeout
        headers = {CLUSTER_ID_HEADER: cluster_id, "accept": "application/json"}
        if self._override is not None:
            url = _with_origin(url, self._override)
        try:
            with self._http.stream("GET", url, headers=headers) as response:
                return response.status_code, _read_body(response, deadline)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _sts(f"error during GET: {type(exc).__name__}: {exc} on {host} endpoint") from exc


def _with_origin(url: str, base: str) -> str:
    """`url` with its scheme and authority replaced by `base`'s: the path and query STS checks stay."""
    match = _AUTHORITY.match(url)
    return base + url[match.end() if match else 0:]


def loopback_base_url(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL naming a loopback address, else ValueError.

    For the testing-only endpoint override: it may point kubegate at a test listener on
    this machine, never at another host, which would then see every token presigned for AWS.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback or parts.username or parts.password \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"the AWS STS override must be http(s)://<loopback address>[:port], not {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _read_body(response: httpx.Response, deadline: float) -> bytes:
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_STS_BODY or time.monotonic() > deadline:
                raise _sts("error reading HTTP result: body too large or too slow")
    except httpx.HTTPError as exc:
        raise _sts(f"error reading HTTP result: {type(exc).__name__}: {exc}") from exc
    return bytes(body)


def _parse_answer(body: bytes) -> tuple[str, str, str]:
    """JSON only (AIA asks for it); unlike Go's decoder, names must match exactly and nothing may be missing."""
    try:
        document = json.loads(body.decode("utf-8"))
        result = document["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
        answer = (result["Account"], result["Arn"], result["UserId"])
    except (ValueError, RecursionError, KeyError, TypeError) as exc:
        raise _sts(f"unexpected response from STS: {type(exc).__name__}: {exc}") from None
    if not all(isinstance(v, str) and v for v in answer):
        raise _sts("unexpected response from STS: Account, Arn and UserId must be non-empty strings")
    return answer


class TokenVerifier:
    """A token is good only if every local check passes and STS then names its signer."""

    def __init__(
        self, *, cluster_id: str, policy: StsEndpointPolicy, sts: StsClient, clock: Callable[[], datetime]
    ) -> None:
        if not _HEADER_VALUE.fullmatch(cluster_id):
            raise ValueError(f"cluster id {cluster_id!r} cannot be sent as {CLUSTER_ID_HEADER}")
        self._cluster_id = cluster_id
        self._policy = policy
        self._sts = sts
        self._clock = clock

    @property
    def cluster_id(self) -> str:
        return self._cluster_id

    def verify(self, token: str) -> StsIdentity:
        return self.verify_until(token)[0]

    def verify_until(self, token: str) -> tuple[StsIdentity, datetime]:
        """The identity and the moment the token stops being valid (a cache may keep it until then)."""
        return self.confirm(self.check_locally(token))

    def check_locally(self, token: str) -> UnverifiedPresignedUrl:
        """Every check but STS's, now: no I/O, so a caller can choose where the STS call runs by its host."""
        return parse_token(token, policy=self._policy, now=self._clock())

    def confirm(self, unverified: UnverifiedPresignedUrl) -> tuple[StsIdentity, datetime]:
        """Ask STS (blocking I/O): the identity, and the moment the token stops being valid."""
        identity = self._sts.get_caller_identity(unverified.url, cluster_id=self._cluster_id)
        return identity, unverified.date + PRESIGN_VALIDITY
