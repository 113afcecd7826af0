"""Follow a live cluster's ``kube-system/aws-auth`` ConfigMap through the Kubernetes API.

EKS clusters still configured by aws-auth keep editing it with kubectl and eksctl, so kubegate
has to see those edits as they happen rather than on an import. This is the informer pattern cut
down to one object: list it, watch from the list's resourceVersion, and list again when the
watch cannot resume (410 Gone), after errors, and every ``resync_seconds`` in case an event was
lost. Callbacks run on the watcher's own daemon thread.

The read is a list narrowed by ``fieldSelector=metadata.name=aws-auth``, not a GET of the object:
a GET carries the object's own resourceVersion, which on a busy cluster is long out of the watch
cache's window for an aws-auth nobody has touched lately, so every watch from it would be 410.
A list carries the collection's current resourceVersion, present or not.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import yaml

from kubegate.service.kube_api import CONFIGMAPS as CONFIGMAPS
from kubegate.service.kube_api import NAME as NAME
from kubegate.service.kube_api import new_client, response_detail, status_text, transport_text

log = logging.getLogger(__name__)
_FIRST_RETRY = 0.5  # seconds; doubled per consecutive failure up to max_backoff
_UNREPORTED = object()


class _ApiError(Exception):
    """The API server answered, but not with what we asked for; ``slow`` marks errors that a quick
    retry cannot fix (a refused token or missing RBAC), so hammering the server is pointless."""

    def __init__(self, message: str, *, slow: bool = False) -> None:
        super().__init__(message)
        self.slow = slow


class _Gone(_ApiError):
    """The resourceVersion we would resume from was compacted away: only a fresh list helps."""


class AwsAuthWatcher:
    """One cluster's aws-auth, followed on a daemon thread. Callbacks run on that thread, one at a
    time and in order; ``token`` may be a callable so that a short-lived token is refreshed."""

    def __init__(
        self, *, cluster: str, server: str, certificate_authority: str | None, token: str | Callable[[], str],
        on_change: Callable[[str | None, str], None], on_error: Callable[[str], None],
        resync_seconds: float = 300.0, read_timeout: float = 5.0, max_backoff: float = 30.0,
    ) -> None:
        self._cluster, self._server = cluster, server.rstrip("/")
        self._certificate_authority, self._token = certificate_authority, token
        self._on_change, self._on_error = on_change, on_error
        self._resync, self._read_timeout, self._max_backoff = resync_seconds, read_timeout, max_backoff
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: httpx.Response | None = None
        self._rv: str | None = None
        self._reported: object = _UNREPORTED  # the data last passed to on_change; None: absent
        self._listed_at = 0.0
        self._failures = 0  # consecutive, for the backoff

    @property
    def resource_version(self) -> str | None:
        """Where a watch would resume: the last resourceVersion seen in a list, event or bookmark."""
        return self._rv

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("AwsAuthWatcher can only be started once")
        client = self._client()  # built here so that a bad CA fails the caller, not the thread
        self._thread = threading.Thread(target=self._run, args=(client,), name=f"aws-auth-watch-{self._cluster}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Set the flag first, then cut the open watch: the thread either sees the flag before it
        blocks on the stream or is woken by the shutdown, so it never waits out a long read."""
        self._stopping.set()
        _shutdown(self._stream)
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the loop -------------------------------------------------------------------------

    def _run(self, client: httpx.Client) -> None:
        """Never lets an exception end the thread: a watcher that died silently would leave
        kubegate serving a stale aws-auth with nothing in the logs after the first traceback."""
        must_list = True
        with client:
            while not self._stopping.is_set():
                fresh = must_list or time.monotonic() - self._listed_at >= self._resync
                try:
                    if fresh:
                        self._list(client)
                    must_list = False
                    self._watch(client)
                except Exception as exc:  # noqa: BLE001 - reported by _back_off, unexpected ones logged
                    must_list = True
                    # An expired resume point is routine: list again at once. Right after a list it is not.
                    if not self._stopping.is_set() and not (isinstance(exc, _Gone) and not fresh):
                        self._back_off(exc)

    def _back_off(self, exc: Exception) -> None:
        self._failures += 1
        slow = isinstance(exc, _ApiError) and exc.slow
        delay = self._max_backoff if slow else min(self._max_backoff, _FIRST_RETRY * 2 ** (self._failures - 1))
        if not isinstance(exc, (httpx.HTTPError, _ApiError, ValueError, LookupError, TypeError)):
            log.error("aws-auth watch of cluster %s: unexpected failure", self._cluster, exc_info=exc)
        kept = "nothing read yet" if self._reported is _UNREPORTED else "keeping the last known aws-auth"
        self._call(self._on_error, f"aws-auth watch of cluster {self._cluster}: {_describe(exc, self._server)}; "
                   f"{kept}, retrying in {delay:g}s")
        self._stopping.wait(delay)

    def _list(self, client: httpx.Client) -> None:
        response = client.get(CONFIGMAPS, params={"fieldSelector": f"metadata.name={NAME}"})
        _check(response)
        body = response.json()
        items = [i for i in body.get("items") or () if i.get("metadata", {}).get("name") == NAME]
        self._listed_at = time.monotonic()
        self._rv = str(body["metadata"]["resourceVersion"])
        obj = items[0] if items else None
        self._report(obj, str(obj["metadata"]["resourceVersion"]) if obj else self._rv)

    def _watch(self, client: httpx.Client) -> None:
        """One watch request, held open until the resync is due. The read timeout allows for the
        server's own deadline, since an idle watch legitimately sends nothing for that long."""
        seconds = max(1, math.ceil(self._resync - (time.monotonic() - self._listed_at)))
        params = {"watch": "1", "fieldSelector": f"metadata.name={NAME}", "resourceVersion": self._rv or "",
                  "allowWatchBookmarks": "true", "timeoutSeconds": str(seconds)}
        timeout = httpx.Timeout(self._read_timeout, read=seconds + self._read_timeout)
        with client.stream("GET", CONFIGMAPS, params=params, timeout=timeout) as response:
            if response.status_code == 410:
                raise _Gone("410 Gone")
            if response.status_code != 200:
                response.read()
                _check(response)
            self._failures = 0
            self._stream = response
            try:
                if self._stopping.is_set():
                    return
                for line in response.iter_lines():
                    if self._stopping.is_set():
                        return
                    if line.strip():
                        self._apply(json.loads(line))
            finally:
                self._stream = None

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise (_Gone if obj.get("code") == 410 else _ApiError)(f"the watch failed: {status_text(obj)}")
        if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
            raise ValueError(f"unexpected watch event type {kind!r}")
        self._rv = str(obj["metadata"]["resourceVersion"])
        if kind != "BOOKMARK":
            self._report(None if kind == "DELETED" else obj, self._rv)

    def _report(self, obj: Mapping[str, Any] | None, rv: str) -> None:
        """Callers reparse and rebuild on every call, so only a change of ``data`` is news."""
        data = None if obj is None else dict(obj.get("data") or {})
        if data == self._reported or self._stopping.is_set():
            return
        self._reported = data
        self._call(self._on_change, None if obj is None else render(obj), rv)

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        """A broken callback must not kill the watch: the next change may well succeed."""
        try:
            callback(*args)
        except Exception:
            log.exception("aws-auth watch of cluster %s: callback %r failed", self._cluster, callback)

    def _client(self) -> httpx.Client:
        return new_client(server=self._server, certificate_authority=self._certificate_authority, token=self._token,
                          timeout=self._read_timeout)


# --- helpers ------------------------------------------------------------------------------


def render(obj: Mapping[str, Any]) -> str:
    """The manifest as ``kubectl get cm aws-auth -o yaml`` prints it (keys sorted, multi-line values
    as ``|`` blocks), so that parse_config_map_yaml's line numbers point into the real text."""
    meta = obj.get("metadata", {})
    manifest: dict[str, Any] = {"apiVersion": "v1"}
    if obj.get("data"):
        manifest["data"] = dict(sorted(obj["data"].items()))
    manifest["kind"] = "ConfigMap"
    manifest["metadata"] = {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta}
    return str(yaml.dump(manifest, Dumper=_KubectlDumper, sort_keys=False, allow_unicode=True, width=2**30))


class _KubectlDumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_KubectlDumper.add_representer(str, _represent_str)


def _check(response: httpx.Response) -> None:
    """Turn a non-200 answer into the exception that decides the retry policy."""
    status = response.status_code
    if status == 200:
        return
    detail = response_detail(response)
    if status == 401:
        raise _ApiError(f"the API server refused the token (401 Unauthorized: {detail}); "
                        "check that it is a valid, unexpired token for this cluster", slow=True)
    if status == 403:
        raise _ApiError(f"the token may not list and watch ConfigMap kube-system/{NAME} (403 Forbidden: {detail}); "
                        "grant its user list and watch on configmaps in kube-system (resourceNames aws-auth will do)",
                        slow=True)
    raise _ApiError(f"HTTP {status} from the API server: {detail}")


def _describe(exc: Exception, server: str) -> str:
    if isinstance(exc, httpx.TransportError):
        return transport_text(exc, server)
    if isinstance(exc, _ApiError):
        return str(exc)
    if isinstance(exc, (ValueError, LookupError, TypeError)):
        return f"unreadable answer from the API server at {server}: {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _shutdown(response: httpx.Response | None) -> None:
    """Wake a thread blocked reading the stream. shutdown() rather than close(): closing an fd
    that another thread is reading could let a new socket reuse it."""
    stream = response.extensions.get("network_stream") if response is not None else None
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the base method: SSLSocket's drops its state
        except OSError:
            pass
