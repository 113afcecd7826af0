"""AwsAuthWatcher against a stand-in kube-apiserver (a real one cannot run here).

The stand-in serves the ConfigMap endpoints as the real API does for these calls: HTTPS with its
own CA, ``Authorization: Bearer`` or 401, GET of the object (404 Status when absent), list with a
``metadata.name`` field selector and the collection's resourceVersion, and watch: chunked
newline-delimited events held open until ``timeoutSeconds``, a bookmark before it closes, and an
ERROR event with a 410 Status for a resourceVersion older than its history. Writes (PUT, POST,
DELETE with DeleteOptions) are optimistic as in the real one: a stale resourceVersion is 409.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from kubegate import pki
from kubegate.domain.aws_auth import RoleMapping, parse_config_map_yaml
from kubegate.service.aws_auth_watch import AwsAuthWatcher
from kubegate.service.kube_api import CONFIGMAPS

TOKEN = "k8s-token-for-tests"
ROLES = "- rolearn: arn:aws:iam::111122223333:role/nodes\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:nodes\n"
ADMINS = "- rolearn: arn:aws:iam::111122223333:role/admin\n  username: admin\n  groups:\n    - system:masters\n"


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _injected(code: int, verb: str) -> dict[str, Any]:
    """The Status a real apiserver sends for an injected failure: RBAC's wording for 403."""
    if code == 403:  # a create has no name yet, nor has a list or watch of the collection
        named = 'configmaps "aws-auth"' if verb in ("get", "update", "delete") else "configmaps"
        return _status(403, "Forbidden", f'{named} is forbidden: User "ci" cannot {verb} resource "configmaps" '
                                         'in API group "" in the namespace "kube-system"')
    return _status(code, "ServiceUnavailable", "etcdserver: request timed out")


_MODIFIED = ('Operation cannot be fulfilled on configmaps "aws-auth": the object has been modified; '
             "please apply your changes to the latest version and try again")


class StandInApiserver:
    """kube-system/aws-auth in memory, with a history for watches and a port that survives restarts."""

    def __init__(self, authority: pki.Authority, token: str = TOKEN) -> None:
        self.token = token
        self.changed = threading.Condition()
        self.rv = 100
        self.oldest = 100  # watches from an older resourceVersion get 410
        self.obj: dict[str, Any] | None = None
        self.history: list[tuple[int, str, dict[str, Any]]] = []
        self.epoch = 0  # bumped to end open watches; `abrupt` says how
        self.abrupt = False
        self.open_watches = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, query
        self.failures: list[int] = []  # statuses to answer the next authenticated requests with
        self.interleave: list[Callable[[], object]] = []  # a concurrent editor's move, run before the next write
        self.connections: set[socket.socket] = set()
        self._dir = tempfile.TemporaryDirectory()
        certificate, key = authority.issue("kube-apiserver", dns_names=("localhost",), ip_addresses=("127.0.0.1",))
        (Path(self._dir.name) / "tls.crt").write_bytes(pki.certificate_pem(certificate))
        (Path(self._dir.name) / "tls.key").write_bytes(pki.key_pem(key))
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(Path(self._dir.name) / "tls.crt", Path(self._dir.name) / "tls.key")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """A crash or restart: the listener goes and every connection is cut mid-stream."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._end_watches(abrupt=True)
        for connection in list(self.connections):
            _cut(connection)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    # --- what kubectl apply/delete would do -------------------------------------------

    def put(self, data: dict[str, str], labels: dict[str, str] | None = None) -> int:
        meta = {"name": "aws-auth", "namespace": "kube-system", "uid": "4e7e1a4c",
                "creationTimestamp": "2024-01-01T00:00:00Z", **({"labels": labels} if labels else {})}
        stored = self.store({"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta, "data": dict(data)})
        return int(stored["metadata"]["resourceVersion"])

    def delete(self) -> int:
        with self.changed:
            assert self.obj is not None
            return int(self.remove()["metadata"]["resourceVersion"])

    def store(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Write ``obj`` as the new aws-auth at the next resourceVersion, with an event for watches."""
        with self.changed:
            self.rv += 1
            kind = "MODIFIED" if self.obj else "ADDED"
            self.obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
            self.history.append((self.rv, kind, self.obj))
            self.changed.notify_all()
            return self.obj

    def remove(self) -> dict[str, Any]:
        """Delete aws-auth (the caller checked it exists); returns it at its deletion's resourceVersion."""
        with self.changed:
            assert self.obj is not None
            self.rv += 1
            gone = {**self.obj, "metadata": {**self.obj["metadata"], "resourceVersion": str(self.rv)}}
            self.obj = None
            self.history.append((self.rv, "DELETED", gone))
            self.changed.notify_all()
            return gone

    def compact_while_disconnected(self, data: dict[str, str]) -> None:
        """Open watches end (as at their timeout) before they see this change, then the history
        is compacted past it: a watcher resuming from where it was must get 410."""
        with self.changed:
            self._end_watches(abrupt=False)
            self.rv += 1
            self.obj = {**(self.obj or {}), "data": dict(data)}
            self.obj["metadata"] = {**self.obj["metadata"], "resourceVersion": str(self.rv)}
            self.history, self.oldest = [], self.rv

    def end_watches(self) -> None:
        """As at their timeoutSeconds: the stream ends cleanly."""
        self._end_watches(abrupt=False)

    def _end_watches(self, *, abrupt: bool) -> None:
        with self.changed:
            self.epoch, self.abrupt = self.epoch + 1, abrupt
            self.changed.notify_all()

    def watches_requested(self) -> list[dict[str, str]]:
        return [q for method, path, q in self.requests if q.get("watch") == "1"]

    def lists_requested(self) -> int:
        return sum(1 for method, path, q in self.requests
                   if method == "GET" and path == CONFIGMAPS and "watch" not in q)

    def writes_requested(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, q in self.requests if method != "GET"]


def _update(api: StandInApiserver, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """PUT: configmaps allow an unconditional update (no resourceVersion) but not create-on-update."""
    meta = body.get("metadata")
    if not isinstance(meta, dict) or meta.get("name") != "aws-auth":
        return 400, _status(400, "BadRequest", "the name of the object does not match the name on the URL")
    if api.obj is None:
        return 404, _status(404, "NotFound", 'configmaps "aws-auth" not found')
    current = api.obj["metadata"]
    if meta.get("resourceVersion") and meta["resourceVersion"] != current["resourceVersion"]:
        return 409, _status(409, "Conflict", _MODIFIED)
    kept = {k: current[k] for k in ("uid", "creationTimestamp")}
    new = {**body, "kind": "ConfigMap", "apiVersion": "v1",
           "metadata": {**meta, "namespace": "kube-system", **kept, "resourceVersion": current["resourceVersion"]}}
    if new == api.obj:  # a no-op update writes nothing: same resourceVersion, no event
        return 200, api.obj
    return 200, api.store(new)


def _create(api: StandInApiserver, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    meta = body.get("metadata")
    if not isinstance(meta, dict) or meta.get("name") != "aws-auth":
        return 400, _status(400, "BadRequest", "the stand-in serves only configmaps/aws-auth")
    if meta.get("namespace", "kube-system") != "kube-system":
        return 400, _status(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                                               "sent on the request")
    if meta.get("resourceVersion"):
        return 500, _status(500, "InternalError", "resourceVersion should not be set on objects to be created")
    if api.obj is not None:
        return 409, _status(409, "AlreadyExists", 'configmaps "aws-auth" already exists')
    created = {"creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "uid": str(uuid.uuid4())}
    return 201, api.store({**body, "kind": "ConfigMap", "apiVersion": "v1",
                           "metadata": {**meta, "namespace": "kube-system", **created}})


def _delete(api: StandInApiserver, options: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """DELETE answers 200 with the deleted object, at its deletion's resourceVersion, as for configmaps."""
    if api.obj is None:
        return 404, _status(404, "NotFound", 'configmaps "aws-auth" not found')
    preconditions = options.get("preconditions") or {}
    for field, key in (("ResourceVersion", "resourceVersion"), ("UID", "uid")):
        wanted, actual = preconditions.get(key), api.obj["metadata"].get(key)
        if wanted and wanted != actual:
            return 409, _status(409, "Conflict", 'Operation cannot be fulfilled on configmaps "aws-auth": '
                                                 f"Precondition failed: {field} in precondition: {wanted}, "
                                                 f"{field} in object meta: {actual}")
    return 200, api.remove()


def _cut(connection: socket.socket) -> None:
    try:
        socket.socket.shutdown(connection, socket.SHUT_RDWR)
    except OSError:
        pass


def _handler(api: StandInApiserver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            api.connections.add(self.connection)

        def finish(self) -> None:
            api.connections.discard(self.connection)
            super().finish()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                return self._json(401, _status(401, "Unauthorized", "Unauthorized"))
            api.requests.append(("GET", url.path, query))
            if api.failures:
                code = api.failures.pop(0)
                verb = "watch" if query.get("watch") else "get" if url.path.endswith("/aws-auth") else "list"
                return self._json(code, _injected(code, verb))
            if url.path == f"{CONFIGMAPS}/aws-auth":
                obj = api.obj
                return self._json(200, obj) if obj else self._json(
                    404, _status(404, "NotFound", 'configmaps "aws-auth" not found'))
            if url.path != CONFIGMAPS:
                return self._json(404, _status(404, "NotFound", "the server could not find the requested resource"))
            if query.get("fieldSelector") not in (None, "metadata.name=aws-auth"):
                return self._json(400, _status(400, "BadRequest", "unsupported field selector in the stand-in"))
            if query.get("watch") in ("1", "true"):
                return self._watch(query)
            with api.changed:
                items = [api.obj] if api.obj else []
                self._json(200, {"kind": "ConfigMapList", "apiVersion": "v1",
                                 "metadata": {"resourceVersion": str(api.rv)}, "items": items})

        def do_PUT(self) -> None:
            self._write("PUT", "update")

        def do_POST(self) -> None:
            self._write("POST", "create")

        def do_DELETE(self) -> None:
            self._write("DELETE", "delete")

        def _write(self, method: str, verb: str) -> None:
            """Authentication, then injected failures and interleaved edits, then the write itself,
            whose compare-and-store holds the lock as etcd's transaction would."""
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                return self._json(401, _status(401, "Unauthorized", "Unauthorized"))
            api.requests.append((method, url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}))
            if api.failures:
                code = api.failures.pop(0)
                return self._json(code, _injected(code, verb))
            if api.interleave:
                api.interleave.pop(0)()  # outside the lock: it may well call api.put
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return self._json(400, _status(400, "BadRequest", "the body of the request was not valid JSON"))
            if body is not None and not isinstance(body, dict):
                return self._json(400, _status(400, "BadRequest", "the body of the request is not an object"))
            target = {"PUT": f"{CONFIGMAPS}/aws-auth", "POST": CONFIGMAPS, "DELETE": f"{CONFIGMAPS}/aws-auth"}[method]
            if url.path != target:
                return self._json(404, _status(404, "NotFound", "the server could not find the requested resource"))
            with api.changed:
                code, answer = {"PUT": _update, "POST": _create, "DELETE": _delete}[method](api, body or {})
            self._json(code, answer)

        def _json(self, code: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _watch(self, query: dict[str, str]) -> None:
            deadline = time.monotonic() + int(query.get("timeoutSeconds", "1800"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with api.changed:
                api.open_watches += 1
                epoch, since = api.epoch, query.get("resourceVersion", "")
            try:
                self._stream(since, epoch, deadline, query.get("allowWatchBookmarks") == "true")
            except OSError:
                self.close_connection = True
            finally:
                with api.changed:
                    api.open_watches -= 1

        def _stream(self, since: str, epoch: int, deadline: float, bookmarks: bool) -> None:
            with api.changed:
                if since and int(since) < api.oldest:
                    self._event("ERROR", _status(410, "Expired", f"too old resource version: {since} ({api.oldest})"))
                    return self._end()
                cursor = int(since) if since else api.rv
                if not since and api.obj:  # "get state and start at most recent"
                    self._event("ADDED", api.obj)
                while True:
                    for rv, kind, obj in [e for e in api.history if e[0] > cursor]:
                        self._event(kind, obj)
                        cursor = rv
                    remaining = deadline - time.monotonic()
                    if api.epoch != epoch and api.abrupt:
                        self.close_connection = True
                        return _cut(self.connection)
                    if api.epoch != epoch or remaining <= 0:
                        break
                    api.changed.wait(min(remaining, 0.5))
                if bookmarks and remaining <= 0:
                    self._event("BOOKMARK", {"kind": "ConfigMap", "apiVersion": "v1",
                                             "metadata": {"resourceVersion": str(api.rv)}})
                self._end()

        def _event(self, kind: str, obj: dict[str, Any]) -> None:
            line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        def _end(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


class Recorder:
    """What the watcher reported, with a way to wait for it."""

    def __init__(self, *, fail_first_change: bool = False) -> None:
        self.fail_first_change = fail_first_change
        self.changes: list[tuple[str | None, str]] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()

    def on_change(self, text: str | None, rv: str) -> None:
        with self._cond:
            self.changes.append((text, rv))
            self._cond.notify_all()
        if self.fail_first_change and len(self.changes) == 1:
            raise RuntimeError("a bug in the consumer")

    def on_error(self, message: str) -> None:
        with self._cond:
            self.errors.append(message)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Polls as well, since some predicates look at the stand-in server rather than at us."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                assert time.monotonic() < deadline, f"timed out: changes={self.changes} errors={self.errors}"
                self._cond.wait(0.02)

    def data(self, index: int = -1) -> dict[str, str] | None:
        """The reported manifest's data, after checking that the lead's parser accepts it."""
        text = self.changes[index][0]
        if text is None:
            return None
        parse_config_map_yaml(text)
        return dict(yaml.safe_load(text).get("data") or {})


def _ca_data(authority: pki.Authority) -> str:
    return base64.b64encode(pki.certificate_pem(authority.certificate)).decode()


@pytest.fixture
def authority() -> pki.Authority:
    return pki.new_authority("stand-in apiserver CA")


@pytest.fixture
def api(authority: pki.Authority) -> Iterator[StandInApiserver]:
    server = StandInApiserver(authority)
    yield server
    server.close()


Watch = Callable[..., tuple[AwsAuthWatcher, Recorder]]


@pytest.fixture
def watch(api: StandInApiserver, authority: pki.Authority) -> Iterator[Watch]:
    started: list[AwsAuthWatcher] = []

    def make(**kwargs: Any) -> tuple[AwsAuthWatcher, Recorder]:
        recorder = Recorder()
        options: dict[str, Any] = {"cluster": "prod", "server": api.url, "certificate_authority": _ca_data(authority),
                                   "token": TOKEN, "max_backoff": 0.5, **kwargs}
        watcher = AwsAuthWatcher(on_change=recorder.on_change, on_error=recorder.on_error, **options)
        watcher.start()
        started.append(watcher)
        return watcher, recorder

    yield make
    for watcher in started:
        watcher.stop()


def test_initial_read_renders_the_manifest_for_the_parser(api: StandInApiserver, watch: Watch) -> None:
    rv = api.put({"mapRoles": ROLES, "mapAccounts": "- \"111122223333\"\n"})
    watcher, seen = watch()
    seen.wait(lambda: len(seen.changes) == 1)
    text, reported_rv = seen.changes[0]
    assert reported_rv == str(rv)
    assert text is not None and text.startswith("apiVersion: v1\ndata:\n  mapAccounts: |\n")
    assert "resourceVersion: '101'" in text and "uid" not in text
    parsed = parse_config_map_yaml(text)
    assert parsed.roles == (RoleMapping("arn:aws:iam::111122223333:role/nodes", "system:node:{{EC2PrivateDNSName}}",
                                        ("system:nodes",)),)
    assert parsed.accounts == frozenset({"111122223333"})
    seen.wait(lambda: bool(api.watches_requested()))
    first_watch = api.watches_requested()[0]
    assert first_watch["resourceVersion"] == str(rv) == watcher.resource_version
    assert first_watch["fieldSelector"] == "metadata.name=aws-auth"
    assert first_watch["allowWatchBookmarks"] == "true" and int(first_watch["timeoutSeconds"]) > 0
    assert not seen.errors


def test_absent_config_map_is_reported_as_none_then_its_creation(api: StandInApiserver, watch: Watch) -> None:
    _, seen = watch()
    seen.wait(lambda: len(seen.changes) == 1)
    assert seen.changes[0] == (None, "100")
    rv = api.put({"mapRoles": ROLES})
    seen.wait(lambda: len(seen.changes) == 2)
    assert seen.changes[1][1] == str(rv) and seen.data() == {"mapRoles": ROLES}


def test_modified_propagates_within_a_second(api: StandInApiserver, watch: Watch) -> None:
    api.put({"mapRoles": ROLES})
    _, seen = watch()
    seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
    began = time.monotonic()
    rv = api.put({"mapRoles": ROLES + ADMINS})
    seen.wait(lambda: len(seen.changes) == 2, timeout=1.0)
    assert time.monotonic() - began < 1.0
    assert seen.changes[1][1] == str(rv)
    assert len(parse_config_map_yaml(seen.changes[1][0] or "").roles) == 2


def test_metadata_only_changes_and_bookmarks_are_not_reported(api: StandInApiserver, watch: Watch) -> None:
    api.put({"mapRoles": ROLES})
    watcher, seen = watch(resync_seconds=1.0)  # the watch times out after 1s and ends with a bookmark
    seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
    touched = api.put({"mapRoles": ROLES}, labels={"owner": "eksctl"})
    seen.wait(lambda: watcher.resource_version == str(touched))
    seen.wait(lambda: len(api.watches_requested()) >= 2, timeout=3.0)  # past the timeout, bookmark and re-list
    assert len(seen.changes) == 1
    rv = api.put({"mapRoles": ADMINS})
    seen.wait(lambda: len(seen.changes) == 2)
    assert seen.changes[1][1] == str(rv) and not seen.errors


def test_deleted_reports_none(api: StandInApiserver, watch: Watch) -> None:
    api.put({"mapRoles": ROLES})
    watcher, seen = watch()
    seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
    rv = api.delete()
    seen.wait(lambda: len(seen.changes) == 2)
    assert seen.changes[1] == (None, str(rv)) and watcher.resource_version == str(rv)


def test_410_gone_on_resuming_triggers_a_relist(api: StandInApiserver, watch: Watch) -> None:
    api.put({"mapRoles": ROLES})
    _, seen = watch()
    seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
    assert api.lists_requested() == 1
    api.compact_while_disconnected({"mapRoles": ADMINS})
    seen.wait(lambda: len(seen.changes) == 2)
    assert seen.data() == {"mapRoles": ADMINS}
    assert api.lists_requested() == 2
    resumed = api.watches_requested()[1]
    assert int(resumed["resourceVersion"]) < api.oldest  # it was refused with 410, hence the list
    seen.wait(lambda: len(api.watches_requested()) == 3)
    assert api.watches_requested()[2]["resourceVersion"] == str(api.rv)
    assert not seen.errors  # an expired resume point is routine


def test_server_restart_is_survived_keeping_the_last_state(api: StandInApiserver, watch: Watch) -> None:
    api.put({"mapRoles": ROLES})
    _, seen = watch()
    seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
    api.stop()
    seen.wait(lambda: len(seen.errors) >= 2)  # the cut stream, then a refused connection
    assert "cannot talk to the API server" in seen.errors[-1] and "keeping the last known aws-auth" in seen.errors[-1]
    assert len(seen.changes) == 1  # no None for an outage
    rv = api.put({"mapRoles": ADMINS})  # made while the watcher could not see it
    api.start()
    seen.wait(lambda: len(seen.changes) == 2)
    assert seen.changes[1][1] == str(rv) and seen.data() == {"mapRoles": ADMINS}
    rv = api.put({"mapRoles": ROLES})
    seen.wait(lambda: len(seen.changes) == 3)
    assert seen.changes[2][1] == str(rv)


def test_5xx_backs_off_exponentially_keeping_the_last_state(api: StandInApiserver, watch: Watch) -> None:
    api.put({"mapRoles": ROLES})
    _, seen = watch(max_backoff=1.0)
    seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
    api.failures = [503, 503, 503]  # the resumed watch, then two lists
    api.end_watches()
    seen.wait(lambda: len(seen.errors) == 3 and api.open_watches == 1)
    assert all("HTTP 503 from the API server: etcdserver: request timed out" in e for e in seen.errors)
    assert [e.rsplit("retrying in ", 1)[1] for e in seen.errors] == ["0.5s", "1s", "1s"]
    assert len(seen.changes) == 1
    rv = api.put({"mapRoles": ADMINS})
    seen.wait(lambda: len(seen.changes) == 2)
    assert seen.changes[1][1] == str(rv)


def test_wrong_token_reports_a_clear_error_and_no_change(api: StandInApiserver, watch: Watch) -> None:
    api.put({"mapRoles": ROLES})
    _, seen = watch(token="not-the-token", max_backoff=0.3)
    seen.wait(lambda: len(seen.errors) >= 2)
    assert "refused the token (401 Unauthorized" in seen.errors[0]
    assert "cluster prod" in seen.errors[0] and "retrying in 0.3s" in seen.errors[0]
    assert not seen.changes and not api.requests


def test_stop_returns_promptly_while_a_watch_is_open(api: StandInApiserver, watch: Watch) -> None:
    api.put({"mapRoles": ROLES})
    watcher, seen = watch()  # read_timeout 5s, resync 300s: the watch would sit idle for minutes
    seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
    began = time.monotonic()
    watcher.stop(timeout=2.0)
    assert time.monotonic() - began < 1.0
    assert not any(t.name == "aws-auth-watch-prod" for t in threading.enumerate())
    api.put({"mapRoles": ADMINS})
    time.sleep(0.2)
    assert len(seen.changes) == 1 and not seen.errors


def test_a_callback_that_raises_does_not_end_the_watch(api: StandInApiserver, authority: pki.Authority) -> None:
    seen = Recorder(fail_first_change=True)
    api.put({"mapRoles": ROLES})
    watcher = AwsAuthWatcher(cluster="prod", server=api.url, certificate_authority=_ca_data(authority), token=TOKEN,
                             on_change=seen.on_change, on_error=seen.on_error)
    watcher.start()
    try:
        seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
        api.put({"mapRoles": ADMINS})
        seen.wait(lambda: len(seen.changes) == 2)
    finally:
        watcher.stop()
    assert seen.data() == {"mapRoles": ADMINS} and not seen.errors


@pytest.mark.parametrize("trust", ["another CA", "system trust"])
def test_the_certificate_authority_is_verified(api: StandInApiserver, trust: str) -> None:
    seen = Recorder()
    ca = _ca_data(pki.new_authority("someone else's CA")) if trust == "another CA" else None
    watcher = AwsAuthWatcher(cluster="prod", server=api.url, certificate_authority=ca, token=TOKEN,
                             on_change=seen.on_change, on_error=seen.on_error, max_backoff=0.2)
    watcher.start()
    try:
        seen.wait(lambda: bool(seen.errors))
    finally:
        watcher.stop()
    assert "certificate verify failed" in seen.errors[0]
    assert not seen.changes and not api.requests
