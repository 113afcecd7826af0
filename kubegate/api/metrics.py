"""kubegate's Prometheus metrics: every metric in one place, behind a small typed API.

Call sites stay one line each and cheap (a webhook answers in ~100 µs): a labelled child is
looked up once and then kept in a plain dict, so a call costs a dict read and prometheus_client's
own increment, with no lock or string formatting of kubegate's. Label values are bounded by the
callers: cluster names only of clusters that have a snapshot (else ``"unknown"``), operations
only of the API's model (else ``"unknown"``), outcomes and error codes from fixed sets.

Metrics:

- ``kubegate_webhook_requests_total{kind,cluster,outcome}`` (counter): reviews answered;
  kind ``authentication``|``authorization``; outcome ``authenticated``, ``unauthenticated``,
  ``allowed``, ``no-opinion``, ``forbidden`` (caller is not the cluster's apiserver),
  ``invalid`` (malformed review) or ``error`` (kubegate raised; answered fail-closed).
- ``kubegate_webhook_duration_seconds{kind}`` (histogram, 50 µs … 1 s): kubegate's time per review.
- ``kubegate_token_cache_total{result}`` (counter): TokenReview identity cache ``hit``|``miss``.
- ``kubegate_management_requests_total{service,operation,code}`` (counter): EKS/IAM/STS calls
  over HTTP; code ``OK`` or the AWS error code answered.
- ``kubegate_database_errors_total{where}`` (counter).
- ``kubegate_snapshot_revision{cluster}`` and ``kubegate_snapshot_built_timestamp_seconds{cluster}``
  (gauges): the snapshot served; its age is ``time() - kubegate_snapshot_built_timestamp_seconds``.
- ``kubegate_database_up`` and ``kubegate_database_stale_since_timestamp_seconds`` (gauges; the
  latter 0 while the database is up).

Multiprocess mode (N uvicorn workers per replica): prometheus_client picks its value store when
it is first imported, so the server sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh, empty folder
before it starts (or imports) any worker; each process then writes its values to files there and
`render` merges them with ``MultiProcessCollector`` over a fresh ``CollectorRegistry``. When a
worker exits, the server calls `worker_exited(pid)` (``mark_process_dead``), which drops that
worker's live gauges; its counters and histograms stay counted, as they should. Gauge modes:
the snapshot gauges are ``livemax`` (the newest snapshot a live worker serves; workers converge
within one revision poll); the two database gauges are ``livemostrecent``, the latest report of
any live worker (the database is shared, so they agree; and an unlabelled gauge reads 0 in every
process that merely imported this module, which would pin ``livemin`` at 0). prometheus_client cannot drop a
labelled series in multiprocess mode, so there `forget_snapshot` sets the cluster's gauges to 0
(read: no snapshot) instead of removing them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "DURATION_BUCKETS",
    "MULTIPROC_DIR_ENV",
    "UNKNOWN",
    "database_error",
    "database_reachable",
    "forget_snapshot",
    "management_call",
    "metrics_endpoint",
    "render",
    "snapshot",
    "token_cache",
    "webhook_review",
    "worker_exited",
]

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNKNOWN = "unknown"
"""The label value for a cluster without a snapshot or an operation outside the API's model."""
DURATION_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)
"""Seconds: a cached review takes ~50 µs, one that asks AWS's STS up to its 5 s timeout (in +Inf)."""

_MULTIPROCESS: bool = getattr(values.ValueClass, "_multiprocess", False)
"""Whether this process writes its values to PROMETHEUS_MULTIPROC_DIR (fixed when prometheus_client loaded)."""

if _MULTIPROCESS:
    # prometheus_client's multiprocess values ask the kernel for the pid on every update, to notice a
    # fork: three getpid system calls per webhook review (measured with perf), which 1 worker does not
    # pay. The pid only changes at a fork, so it is kept here and refreshed in the child. Set before any
    # metric below exists, so every value of this process is of this one class (one file per process).
    _pid = os.getpid()

    def _forked() -> None:
        global _pid
        _pid = os.getpid()

    os.register_at_fork(after_in_child=_forked)
    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: _pid)  # type: ignore[no-untyped-call]

WEBHOOK_REQUESTS = Counter(
    "kubegate_webhook_requests", "Kubernetes webhook reviews answered, by kind, cluster and outcome.",
    ("kind", "cluster", "outcome"),
)
WEBHOOK_DURATION = Histogram(
    "kubegate_webhook_duration_seconds", "kubegate's time to answer one webhook review.", ("kind",),
    buckets=DURATION_BUCKETS,
)
TOKEN_CACHE = Counter(
    "kubegate_token_cache", "TokenReview identity cache lookups, by result (hit or miss).", ("result",),
)
MANAGEMENT_REQUESTS = Counter(
    "kubegate_management_requests",
    "EKS, IAM and STS calls answered over HTTP, by service, operation and code (OK or the AWS error code).",
    ("service", "operation", "code"),
)
DATABASE_ERRORS = Counter("kubegate_database_errors", "Database operations that failed, by where.", ("where",))
SNAPSHOT_REVISION = Gauge(
    "kubegate_snapshot_revision", "Revision of the cluster's access snapshot being served (0: none).", ("cluster",),
    multiprocess_mode="livemax",
)
SNAPSHOT_BUILT = Gauge(
    "kubegate_snapshot_built_timestamp_seconds",
    "Unix time the cluster's served snapshot was built (0: none); its age is time() minus this.", ("cluster",),
    multiprocess_mode="livemax",
)
DATABASE_UP = Gauge("kubegate_database_up", "1 if the database answered the last read, else 0.",
                    multiprocess_mode="livemostrecent")
DATABASE_STALE_SINCE = Gauge(
    "kubegate_database_stale_since_timestamp_seconds",
    "Unix time since which the database has been unreachable (snapshots stale); 0 while it is up.",
    multiprocess_mode="livemostrecent",
)

_CACHE_RESULT = {True: TOKEN_CACHE.labels("hit"), False: TOKEN_CACHE.labels("miss")}
_DURATIONS = {kind: WEBHOOK_DURATION.labels(kind) for kind in ("authentication", "authorization")}
_reviews: dict[tuple[str, str, str], Counter] = {}  # labelled children, so a call skips labels()
_calls: dict[tuple[str, str, str], Counter] = {}


def webhook_review(kind: str, cluster: str, outcome: str, seconds: float) -> None:
    """One review answered: `cluster` only if it has a snapshot (else UNKNOWN), `seconds` kubegate's time."""
    key = (kind, cluster, outcome)
    counter = _reviews.get(key)
    if counter is None:
        counter = _reviews.setdefault(key, WEBHOOK_REQUESTS.labels(kind, cluster, outcome))
    counter.inc()
    duration = _DURATIONS.get(kind)
    if duration is None:
        duration = _DURATIONS.setdefault(kind, WEBHOOK_DURATION.labels(kind))
    duration.observe(seconds)


def token_cache(hit: bool) -> None:
    """One TokenReview identity cache lookup."""
    _CACHE_RESULT[hit].inc()


def management_call(service: str, operation: str, code: str) -> None:
    """One management call answered: `operation` one of the service's model (else UNKNOWN), `code` "OK" or AWS's."""
    key = (service, operation, code)
    counter = _calls.get(key)
    if counter is None:
        counter = _calls.setdefault(key, MANAGEMENT_REQUESTS.labels(service, operation, code))
    counter.inc()


def database_error(where: str) -> None:
    """A database operation failed; `where` is a fixed name of the operation (never the error text)."""
    DATABASE_ERRORS.labels(where).inc()


def snapshot(cluster: str, revision: int, built_at_unix: float) -> None:
    """The cluster's snapshot now served: its revision and when it was built."""
    SNAPSHOT_REVISION.labels(cluster).set(revision)
    SNAPSHOT_BUILT.labels(cluster).set(built_at_unix)


def forget_snapshot(cluster: str) -> None:
    """The cluster's snapshot was dropped (cluster deleted): its series go (in multiprocess mode: read 0)."""
    if _MULTIPROCESS:
        SNAPSHOT_REVISION.labels(cluster).set(0)
        SNAPSHOT_BUILT.labels(cluster).set(0)
    else:
        SNAPSHOT_REVISION.remove(cluster)
        SNAPSHOT_BUILT.remove(cluster)


def database_reachable(ok: bool, since_unix: float) -> None:
    """Whether the database answers; if not, `since_unix` is when it stopped (the snapshots' staleness)."""
    DATABASE_UP.set(1 if ok else 0)
    DATABASE_STALE_SINCE.set(0 if ok else since_unix)


def worker_exited(pid: int) -> None:
    """Bookkeeping when a worker process exits (multiprocess mode only): its live gauges are dropped."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def render() -> tuple[bytes, str]:
    """The exposition text and its content type: every process's values merged in multiprocess mode."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``; rendered in the threadpool (multiprocess mode reads files), off the webhooks' loop."""
    body, content_type = await run_in_threadpool(render)
    return Response(body, media_type=content_type)
