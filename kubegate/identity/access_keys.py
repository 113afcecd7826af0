"""Access keys and the SigV4 check of every management request.

Secret keys are stored encrypted (Fernet, key in the data dir) and decrypted only to
check one signature; they are never logged or returned after creation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet

from kubegate.domain.caller import Caller
from kubegate.identity.sts import StsService, token_digest
from kubegate.identity.sigv4 import SigV4Error, parse_signature, verify_signature
from kubegate.store.database import Store, Unavailable
from kubegate.store.iam_rows import StoredAccessKey

INVALID_TOKEN = "The security token included in the request is invalid."


@dataclass(frozen=True)
class _Known:
    caller: Caller
    secret: str
    expires_at: datetime | None  # a session's end; None for long-term keys
    generation: int  # the IAM generation it was read under


class AccessKeys:
    """Finds a signature's key; remembers what it found.

    A key, once read, is remembered until kubegate's IAM generation moves (any change that can
    take an identity away: a key deactivated or deleted, a user or role deleted) or, for a
    session, until it expires. So a request, and every ``k8s-aws-v1.`` token of kubegate's own
    IAM, costs no database query for a key already seen, and while the database is unreachable
    the keys already known keep working, as the snapshots keep serving; an unknown key fails.
    """

    MAX_KNOWN = 10_000

    def __init__(self, store: Store, cipher: Fernet, sessions: StsService, *, account: str,
                 generation: Callable[[], int] = lambda: 0) -> None:
        self.store = store
        self.cipher = cipher
        self.sessions = sessions
        self.account = account
        self.generation = generation
        self._known: dict[tuple[str, str], _Known] = {}

    def ensure_root_key(self, access_key_id: str, secret_access_key: str, now: datetime) -> None:
        """Make the data dir's bootstrap key valid in this database (a new database, or the first start)."""
        with self.store.transaction() as tx:
            if tx.iam.access_key(access_key_id) is not None:
                return
            root = Caller.root(self.account)
            tx.iam.add_access_key(
                StoredAccessKey(
                    access_key_id=access_key_id,
                    secret_ciphertext=self.cipher.encrypt(secret_access_key.encode()),
                    principal_arn=root.arn,
                    principal_id=root.user_id,
                    status="Active",
                    created_at=now,
                )
            )

    def authenticate(
        self, *, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> tuple[Caller, str, str]:
        """Verify a SigV4-signed request; return the caller and the signing service and region."""
        signed = parse_signature(method, raw_path, raw_query, headers)
        caller, secret = self._credentials(signed.access_key_id, signed.security_token, now)
        verify_signature(
            signed, method=method, raw_path=raw_path, raw_query=raw_query, headers=headers, body=body,
            secret_access_key=secret, now=now,
        )
        return caller, signed.service, signed.region

    def _credentials(self, access_key_id: str, token: str | None, now: datetime) -> tuple[Caller, str]:
        """The claimed key's owner and secret; unknown, inactive or mismatched keys fail closed."""
        cache_key = (access_key_id, token_digest(token) if token is not None else "")
        generation = self.generation()
        known = self._known.get(cache_key)
        alive = known is not None and (known.expires_at is None or now < known.expires_at)
        if known is not None and alive and known.generation == generation:
            return known.caller, known.secret
        try:
            caller, secret, expires_at = self._read(access_key_id, token, now)
        except Unavailable:
            if known is not None and alive:  # the database is away: what we knew last, as the snapshots do
                return known.caller, known.secret
            raise
        if len(self._known) >= self.MAX_KNOWN:
            self._known.clear()
        self._known[cache_key] = _Known(caller, secret, expires_at, generation)
        return caller, secret

    def _read(self, access_key_id: str, token: str | None, now: datetime) -> tuple[Caller, str, datetime | None]:
        if access_key_id.startswith("ASIA"):
            found = self.sessions.session_credentials(access_key_id, token, now)
            if found is None:
                raise SigV4Error("UnrecognizedClientException", INVALID_TOKEN, 403)
            return found
        with self.store.transaction() as tx:
            key = tx.iam.access_key(access_key_id)
        if key is None or key.status != "Active" or token is not None:
            raise SigV4Error("UnrecognizedClientException", INVALID_TOKEN, 403)
        caller = Caller(arn=key.principal_arn, user_id=key.principal_id, account=self.account,
                        principal_arn=key.principal_arn)
        return caller, self.cipher.decrypt(key.secret_ciphertext).decode(), None
