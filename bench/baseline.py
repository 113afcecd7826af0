"""The ceiling: a raw ASGI app answering a fixed SubjectAccessReview, under uvicorn with kubegate's TLS
settings (same certificate, CA, CERT_OPTIONAL client certificates, h11, no access log).

Usage: python baseline.py DATA_DIR PORT
"""

from __future__ import annotations

import json
import ssl
import sys
from pathlib import Path

import uvicorn

BODY = json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                   "status": {"allowed": True, "reason": "baseline"}}).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):  # read the review, as a real webhook must
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    data_dir = Path(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), http="h11", access_log=False, log_level="warning",
                ssl_certfile=str(data_dir / "server.crt"), ssl_keyfile=str(data_dir / "server.key"),
                ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=str(data_dir / "ca.crt"))
