"""Access keys and the SigV4 check of every management request.

Secret keys are stored encrypted (Fernet, key in the data dir) and decrypted only to
check one signature; they are never logged or returned after creation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cryptography.fernet import Fernet

from kubegate.domain.caller import Caller
from kubegate.identity.sts import StsService
from kubegate.identity.sigv4 import SigV4Error, parse_signature, verify_signature
from kubegate.store.database import Store
from kubegate.store.iam_rows import StoredAccessKey

INVALID_TOKEN = "The security token included in the request is invalid."


class AccessKeys:
    def __init__(self, store: Store, cipher: Fernet, sessions: StsService, *, account: str) -> None:
        self.store = store
        self.cipher = cipher
        self.sessions = sessions
        self.account = account

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
        return caller, self.cipher.decrypt(key.secret_ciphertext).decode()
