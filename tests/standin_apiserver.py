"""A stand-in kube-apiserver for tests: the part of it that calls a token webhook.

A real kube-apiserver cannot run here. This one does what it does for a bearer token:
it posts a TokenReview (authentication.k8s.io/v1, `?timeout=30s`, the client
certificate from the webhook kubeconfig) and answers `kubectl auth whoami`'s
SelfSubjectReview with the user, or 401 Unauthorized as a real apiserver does.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from kubegate import pki


class StandInApiserver:
    def __init__(self, authn_kubeconfig: Path) -> None:
        config = yaml.safe_load(authn_kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        self._dir = tempfile.TemporaryDirectory()
        work = Path(self._dir.name)
        for name, data in (("webhook-ca.crt", cluster["certificate-authority-data"]),
                           ("client.crt", user["client-certificate-data"]),
                           ("client.key", user["client-key-data"])):
            (work / name).write_bytes(base64.b64decode(data))
        context = ssl.create_default_context(cafile=str(work / "webhook-ca.crt"))
        context.load_cert_chain(str(work / "client.crt"), str(work / "client.key"))
        self.webhook_url = cluster["server"]
        self.webhook = httpx.Client(verify=context, timeout=30)
        authority = pki.new_authority("stand-in apiserver CA")
        certificate, key = authority.issue("kube-apiserver", dns_names=("localhost",), ip_addresses=("127.0.0.1",))
        (work / "serving.crt").write_bytes(pki.certificate_pem(certificate))
        (work / "serving.key").write_bytes(pki.key_pem(key))
        self.ca_pem = pki.certificate_pem(authority.certificate)
        self.reviews: list[dict[str, Any]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serving.load_cert_chain(str(work / "serving.crt"), str(work / "serving.key"))
        self.httpd.socket = serving.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.webhook.close()
        self._dir.cleanup()

    def authenticate(self, token: str) -> dict[str, Any] | None:
        review = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
                  "spec": {"token": token, "audiences": ["https://kubernetes.default.svc.cluster.local"]},
                  "status": {"user": {}}}
        answer = self.webhook.post(self.webhook_url + "?timeout=30s", json=review,
                                   headers={"Accept": "application/json, */*", "User-Agent": "Go-http-client/1.1"})
        self.reviews.append(answer.json())
        status = answer.json().get("status", {}) if answer.status_code == 200 else {}
        return status.get("user") if status.get("authenticated") else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        apiserver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", "0")))  # protobuf from kubectl: not needed
                authorization = self.headers.get("Authorization", "")
                user = apiserver.authenticate(authorization.removeprefix("Bearer ")) if authorization else None
                if user is None:
                    self._send(401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                     "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
                    return
                if not self.path.startswith("/apis/authentication.k8s.io/") or "selfsubjectreviews" not in self.path:
                    self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
                    return
                user = {**user, "groups": [*user.get("groups", []), "system:authenticated"]}
                self._send(201, {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                                 "metadata": {"creationTimestamp": None}, "status": {"userInfo": user}})

        return Handler
