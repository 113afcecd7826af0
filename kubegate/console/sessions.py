"""Console sign-in and sessions: who a browser is, checked the way every API caller is checked.

An access key is verified by signing a request with it and passing that request through
:meth:`AccessKeys.authenticate`, the very path a SigV4 caller takes: unknown, inactive and
expired keys fail there and nowhere else. The key is checked again on every console request,
so deactivating it (or its session ending) ends the console session too. The cookie holds only
a random ID; the database holds its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.fernet import Fernet

from kubegate.domain.caller import Caller
from kubegate.domain.errors import DomainError
from kubegate.identity.access_keys import AccessKeys
from kubegate.identity.sigv4 import SigV4Error
from kubegate.identity.sts import StsService
from kubegate.store.console import ConsoleStore, StoredSession
from kubegate.store.database import Store

COOKIE = "kubegate_console"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
LINK_TTL = timedelta(minutes=5)
FAILURE_WINDOW = timedelta(minutes=5)
MAX_FAILURES = 5  # per client address per window; the next attempt is refused without being checked
_SIGN_IN_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
_SIGN_IN_HOST = "console.kubegate.invalid"


class SignInRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Session:
    id_sha256: str
    caller: Caller
    csrf: str
    expires_at: datetime


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def caller_json(caller: Caller) -> dict[str, Any]:
    out = asdict(caller)
    out["issued_at"] = caller.issued_at.isoformat() if caller.issued_at else None
    return out


def caller_from_json(data: dict[str, Any]) -> Caller:
    fields = dict(data)
    fields["issued_at"] = datetime.fromisoformat(data["issued_at"]) if data.get("issued_at") else None
    for name in ("session_policies", "transitive_tag_keys"):
        if fields.get(name) is not None:
            fields[name] = tuple(fields[name])
    fields["principal_tags"] = tuple(tuple(pair) for pair in fields.get("principal_tags") or ())
    return Caller(**fields)


def new_link(store: ConsoleStore, now: datetime) -> str:
    """A one-time sign-in secret for the bootstrap administrator (``kubegate console-login``): only
    its digest is stored, it expires in five minutes, and spending it is a compare-and-set."""
    token = secrets.token_urlsafe(32)
    store.add_link(digest(token), now, now + LINK_TTL)
    return token


class Sessions:
    def __init__(self, store: Store, keys: AccessKeys, sts: StsService, cipher: Fernet, *,
                 clock: Callable[[], datetime], region: str, bootstrap_key_id: str) -> None:
        self.console = ConsoleStore(store)
        self.store = store
        self.keys = keys
        self.sts = sts
        self.cipher = cipher
        self.clock = clock
        self.region = region
        self.bootstrap_key_id = bootstrap_key_id

    # --- signing in -----------------------------------------------------------------------

    def sign_in_with_key(self, access_key_id: str, secret: str, session_token: str | None,
                         source: str) -> tuple[str, Session]:
        """A new session (and its cookie value) for a valid key; a refusal counts against ``source``."""
        now = self.clock()
        self._check_rate(source, now)
        try:
            caller = self._verify(access_key_id.strip(), secret, session_token or None, now)
        except (SigV4Error, ValueError, DomainError):
            self.console.record_failure(source, now)
            raise SignInRefused("The access key ID, secret access key or session token is not valid.") from None
        expires = now + ABSOLUTE
        if session_token:
            found = self.sts.session_credentials(access_key_id, session_token, now)
            if found is not None:
                expires = min(expires, found[2])
        token = self.cipher.encrypt(session_token.encode()) if session_token else None
        return self._open(caller, access_key_id, token, now, expires)

    def sign_in_with_link(self, token: str, source: str) -> tuple[str, Session]:
        now = self.clock()
        self._check_rate(source, now)
        if not self.console.use_link(digest(token), now):
            self.console.record_failure(source, now)
            raise SignInRefused("This sign-in link is not valid: it was used already, has expired, or never existed.")
        with self.store.transaction() as tx:
            key = tx.iam.access_key(self.bootstrap_key_id)
        if key is None or key.status != "Active":
            raise SignInRefused("The bootstrap administrator's access key is no longer active.")
        caller = Caller(arn=key.principal_arn, user_id=key.principal_id, account=self.keys.account,
                        principal_arn=key.principal_arn)
        return self._open(caller, self.bootstrap_key_id, None, now, now + ABSOLUTE)

    # --- using a session ------------------------------------------------------------------

    def current(self, cookie: str | None) -> Session | None:
        """The session a cookie names, while it is neither idle, expired, nor backed by a dead key."""
        if not cookie or len(cookie) > 128:
            return None
        now = self.clock()
        stored = self.console.session(digest(cookie))
        if stored is None:
            return None
        if now >= stored.expires_at or now - stored.last_seen > IDLE or not self._still_valid(stored, now):
            self.console.delete_session(stored.id_sha256)
            return None
        if now - stored.last_seen > timedelta(seconds=30):  # not a write per page view
            self.console.touch(stored.id_sha256, now)
        return Session(stored.id_sha256, caller_from_json(stored.caller), stored.csrf, stored.expires_at)

    def sign_out(self, session: Session) -> None:
        self.console.delete_session(session.id_sha256)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(session.csrf, str(given))

    # --- internals ------------------------------------------------------------------------

    def _check_rate(self, source: str, now: datetime) -> None:
        if self.console.failures_since(source, now - FAILURE_WINDOW) >= MAX_FAILURES:
            raise SignInRefused("Too many failed sign-ins from this address; wait a few minutes and try again.")

    def _verify(self, access_key_id: str, secret: str, session_token: str | None, now: datetime) -> Caller:
        """Sign a GetCallerIdentity with the key and verify it as the AWS endpoint verifies requests."""
        if not access_key_id or not secret:
            raise ValueError("missing")
        request = AWSRequest(method="POST", url=f"https://{_SIGN_IN_HOST}/", data=_SIGN_IN_BODY, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": _SIGN_IN_HOST})
        SigV4Auth(Credentials(access_key_id, secret, session_token), "sts", self.region).add_auth(request)
        headers = {k.lower(): str(v) for k, v in request.headers.items()}
        caller, _, _ = self.keys.authenticate(method="POST", raw_path="/", raw_query="", headers=headers,
                                              body=_SIGN_IN_BODY, now=now)
        return caller

    def _still_valid(self, stored: StoredSession, now: datetime) -> bool:
        if stored.access_key_id is None:
            return False
        if stored.session_token is not None:
            token = self.cipher.decrypt(stored.session_token).decode()
            try:
                return self.sts.session_credentials(stored.access_key_id, token, now) is not None
            except DomainError:  # the session's credentials expired
                return False
        with self.store.transaction() as tx:
            key = tx.iam.access_key(stored.access_key_id)
        return key is not None and key.status == "Active"

    def _open(self, caller: Caller, access_key_id: str, token: bytes | None, now: datetime,
              expires: datetime) -> tuple[str, Session]:
        """Always a new session ID at sign-in: an ID planted before (session fixation) is never promoted."""
        self.console.delete_expired(now, now - IDLE)
        cookie = secrets.token_urlsafe(32)
        stored = StoredSession(
            id_sha256=digest(cookie), caller=caller_json(caller), access_key_id=access_key_id, session_token=token,
            csrf=secrets.token_urlsafe(32), created_at=now, last_seen=now, expires_at=expires,
        )
        self.console.add_session(stored)
        return cookie, Session(stored.id_sha256, caller, stored.csrf, expires)
