"""Calls to AWS's STS for tokens presigned for AWS, kept from hurting the rest of kubegate.

Whoever can send a request to a kube-apiserver can make it pass kubegate a token presigned
for AWS's STS: making one that passes every local check needs no credentials, and each
costs an outbound call that may take seconds. Measured before this module: 45 such reviews
in flight filled the threadpool the management API shares and took ListClusters from 5 ms
to 8.5 s. What a review meets here, in order:

    AwsStsGate.confirm(verifier, unverified)   what the token webhook awaits
      refused at once      AWS's STS is switched off (`kubegate up --no-aws-sts`)
      RefusalCache         AWS's STS refused this token for this cluster, or could not be asked,
                           within REFUSAL_TTL: the same answer again, without a call
      "busy" at once       `limit` calls already in flight: answered now, never queued
      own threads          the call runs on the gate's executor, never on the event loop or in
                           the threadpool the management API shares (HttpStsClient: connect 2 s,
                           5 s in all)
    AwsStsDisabled         the StsClient for AWS's hosts under --no-aws-sts, for any other caller
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlsplit

from kubegate.identity.iam_token import StsIdentity, TokenError, TokenVerifier, UnverifiedPresignedUrl

AWS_STS_CONCURRENCY = 8  # calls in flight: at ~100 ms a call, ~80 reviews/s of tokens not yet cached
REFUSAL_TTL = 30.0  # seconds: a forged token costs one call per half minute; an outage locks a real one out as long
REFUSAL_CACHE_SIZE = 10_000

Confirmed = tuple[StsIdentity, datetime]


def disabled(host: str) -> TokenError:
    return TokenError("sts", f"AWS STS is disabled on this kubegate (kubegate up --no-aws-sts): a token presigned "
                             f"for {host} is refused; tokens presigned for kubegate's own STS still work")


class AwsStsDisabled:
    """The StsClient for AWS's hosts when AWS's STS is switched off: every call is refused, none is made."""

    def get_caller_identity(self, url: str, *, cluster_id: str) -> StsIdentity:
        raise disabled(urlsplit(url).netloc)


def refusal_key(cluster_id: str, url: str) -> str:
    """A digest, never the token: the URL is the token decoded, and STS's answer depends on the cluster too."""
    return hashlib.sha256(f"{cluster_id}\n{url}".encode()).hexdigest()


class RefusalCache:
    """Why AWS's STS said no, by refusal_key, for `ttl` seconds; the oldest go first beyond `size`.

    A refusal is remembered whether STS answered no or could not be reached: a forged token
    is refused either way, and a genuine one hit by an outage is refused for at most `ttl`.
    """

    def __init__(
        self, *, ttl: float = REFUSAL_TTL, size: int = REFUSAL_CACHE_SIZE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            if self.clock() > found[1]:
                del self._items[key]
                return None
            return found[0]

    def put(self, key: str, detail: str) -> None:
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (detail, self.clock() + self.ttl)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class AwsStsGate:
    """Where the token webhook sends tokens presigned for AWS: off switch, refusal cache, bounded own threads."""

    def __init__(
        self, *, enabled: bool = True, limit: int = AWS_STS_CONCURRENCY, refusals: RefusalCache | None = None
    ) -> None:
        if limit < 1:
            raise ValueError("the AWS STS concurrency limit must be at least 1")
        self.enabled = enabled
        self.limit = limit
        self.refusals = refusals if refusals is not None else RefusalCache()
        self._executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="kubegate-aws-sts")
        self._in_flight = 0
        self._lock = threading.Lock()

    async def confirm(self, verifier: TokenVerifier, unverified: UnverifiedPresignedUrl) -> Confirmed:
        """`verifier.confirm(unverified)` on the gate's threads, or a TokenError at once."""
        if not self.enabled:
            raise disabled(unverified.host)
        key = refusal_key(verifier.cluster_id, unverified.url)
        remembered = self.refusals.get(key)
        if remembered is not None:
            raise TokenError("sts", remembered)
        try:
            return await asyncio.wrap_future(self._admit(verifier.confirm, unverified))
        except TokenError as exc:
            if exc.kind == "sts":  # not "throttled": AWS's throttling says nothing about the token
                ttl = f"{self.refusals.ttl:g}"
                self.refusals.put(key, f"{exc.detail} (remembered: AWS STS is not asked about this token for {ttl} s)")
            raise

    def _admit(
        self, call: Callable[[UnverifiedPresignedUrl], Confirmed], unverified: UnverifiedPresignedUrl
    ) -> Future[Confirmed]:
        """Start the call if fewer than `limit` are in flight; the slot is freed when the call ends, not its waiter."""
        with self._lock:
            if self._in_flight >= self.limit:
                raise TokenError("throttled", f"AWS STS busy: {self.limit} calls already in flight; "
                                              "answered at once rather than queued")
            self._in_flight += 1
        try:
            future = self._executor.submit(call, unverified)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, _: object = None) -> None:
        with self._lock:
            self._in_flight -= 1
