"""Write a live cluster's ``kube-system/aws-auth`` ConfigMap without ever overwriting somebody else's edit.

eksctl-style ``iamidentitymapping create/delete`` and the migration off aws-auth change a ConfigMap
that people and other tools edit too. So every write is conditional on the resourceVersion the
change was computed from: a replace sends it in metadata, a delete sends it as a precondition, and a
create fails if the object appeared meanwhile. The API server decides the race, and its 409 becomes
ConfigMapConflict: the caller reads again and recomputes rather than retrying blindly.

Every failure, down to a refused connection or a garbled answer, surfaces as ConfigMapError with a
sentence for the user: callers are command-line verbs that must not print an httpx traceback.
"""

from __future__ import annotations

import copy
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from kubegate.service.kube_api import CONFIGMAPS, NAME, new_client, response_detail, transport_text

_OBJECT = f"ConfigMap kube-system/{NAME}"
_VERBS = {"GET": "get", "PUT": "update", "POST": "create", "DELETE": "delete"}  # RBAC verb per method


@dataclass(frozen=True)
class LiveConfigMap:
    """One read of aws-auth. ``obj`` is kept whole so that a replace sends back what kubegate does
    not manage (labels, annotations, binaryData, data keys it did not touch) unchanged."""

    data: dict[str, str]
    resource_version: str
    obj: dict[str, Any]


class ConfigMapError(Exception):
    """The call did not happen or its outcome is unknown; ``message`` says why in words a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigMapConflict(ConfigMapError):
    """aws-auth is no longer what the change was computed from (409, or 404 for a conditional write:
    it was deleted), or a create found it already there. Read it again, then recompute the change."""


class ConfigMapClient:
    """Get, replace, create and delete ``kube-system/aws-auth``, each write guarded by a resourceVersion."""

    def __init__(self, *, server: str, certificate_authority: str | None, token: str, timeout: float = 10.0) -> None:
        self._server = server.rstrip("/")
        try:
            self._client = new_client(server=self._server, certificate_authority=certificate_authority, token=token,
                                      timeout=timeout)
        except (ValueError, ssl.SSLError) as exc:
            raise ConfigMapError(f"the certificate authority for the API server at {self._server} is not base64 "
                                 f"of a PEM certificate bundle: {type(exc).__name__}: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise ConfigMapError(f"the API server address {server!r} is not a valid URL: {exc}") from exc

    def get(self) -> LiveConfigMap | None:
        """None when aws-auth does not exist (a cluster created with the API authentication mode)."""
        response = self._send("GET", f"{CONFIGMAPS}/{NAME}")
        if response.status_code == 404:
            return None
        obj, rv = self._answer(response, "GET")
        data = obj.get("data") or {}
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ConfigMapError(f"unreadable answer from the API server at {self._server} to get {_OBJECT}: "
                                 "its data is not a map of strings")
        return LiveConfigMap(data=dict(data), resource_version=rv, obj=obj)

    def replace(self, current: LiveConfigMap, data: dict[str, str]) -> str:
        """PUT ``current.obj`` with only its data swapped, conditional on ``current.resource_version``;
        returns the new resourceVersion."""
        obj = copy.deepcopy(current.obj)
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", "ConfigMap")
        meta = obj.get("metadata")
        meta = dict(meta) if isinstance(meta, dict) else {}
        meta.setdefault("name", NAME)
        meta.setdefault("namespace", "kube-system")
        meta["resourceVersion"] = current.resource_version
        obj["metadata"], obj["data"] = meta, dict(data)
        response = self._send("PUT", f"{CONFIGMAPS}/{NAME}", obj, read_at=current.resource_version)
        return self._answer(response, "PUT")[1]

    def create(self, data: dict[str, str]) -> str:
        """POST a new aws-auth; if one appeared since the caller saw it absent, ConfigMapConflict."""
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NAME, "namespace": "kube-system"},
               "data": dict(data)}
        response = self._send("POST", CONFIGMAPS, obj)
        return self._answer(response, "POST")[1]

    def delete(self, resource_version: str) -> None:
        """DELETE conditional on ``resource_version``: an aws-auth edited since it was read survives."""
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": resource_version}}
        self._send("DELETE", f"{CONFIGMAPS}/{NAME}", options, read_at=resource_version)

    def close(self) -> None:
        self._client.close()

    # --- one boundary for everything that can go wrong ---------------------------------------

    def _send(self, method: str, path: str, body: Mapping[str, Any] | None = None, *,
              read_at: str | None = None) -> httpx.Response:
        """Sends, and turns any non-2xx answer into the matching exception (except a 404 to a GET,
        which is an answer: absent). ``read_at`` is the resourceVersion a write is conditional on."""
        try:
            response = self._client.request(method, path, json=body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ConfigMapError(f"{_VERBS[method]} {_OBJECT}: {transport_text(exc, self._server)}") from exc
        if response.status_code >= 300 and not (method == "GET" and response.status_code == 404):
            raise self._failure(response, method, read_at)
        return response

    def _answer(self, response: httpx.Response, method: str) -> tuple[dict[str, Any], str]:
        """The object answered and its resourceVersion, or ConfigMapError if it is not one."""
        try:
            obj = response.json()
            rv = obj["metadata"]["resourceVersion"]
            if not isinstance(obj, dict) or not isinstance(rv, str) or not rv:
                raise TypeError("no object with a resourceVersion")
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            raise ConfigMapError(f"unreadable answer from the API server at {self._server} to {_VERBS[method]} "
                                 f"{_OBJECT}: {type(exc).__name__}: {exc}") from exc
        return obj, rv

    def _failure(self, response: httpx.Response, method: str, read_at: str | None) -> ConfigMapError:
        status, detail, verb = response.status_code, response_detail(response), _VERBS[method]
        if status == 401:
            return ConfigMapError(f"the API server at {self._server} refused the token (401 Unauthorized: {detail}); "
                                  "check that it is a valid, unexpired token for this cluster")
        if status == 403:
            scope = "a resourceNames rule cannot grant create" if method == "POST" else "resourceNames aws-auth"
            return ConfigMapError(f"the token may not {verb} {_OBJECT} (403 Forbidden: {detail}); "
                                  f"grant its user {verb} on configmaps in kube-system ({scope})")
        if status == 409 and method == "POST":
            return ConfigMapConflict(f"{_OBJECT} already exists (409 Conflict: {detail}); "
                                     "somebody created it since it was read: read it again and reapply the change")
        if status == 409 or (status == 404 and method in ("PUT", "DELETE")):
            what = "was deleted" if status == 404 else "was modified"
            return ConfigMapConflict(f"{_OBJECT} {what} since it was read at resourceVersion {read_at} "
                                     f"({status} {response.reason_phrase}: {detail}); read it again and reapply "
                                     "the change")
        return ConfigMapError(f"HTTP {status} from the API server at {self._server} to {verb} {_OBJECT}: {detail}")
