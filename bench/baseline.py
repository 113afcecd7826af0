"""The ceiling for bench/webhooks: a raw ASGI app answering a fixed SubjectAccessReview, under uvicorn
with kubegate's TLS settings (its certificate and CA, optional client certificates, httptools and uvloop, no access log).

Usage: baseline.py DATA_DIR PORT
"""

import ssl
import sys

import uvicorn

BODY = b'{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","status":{"allowed":true,"reason":"ok"}}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "http":
        while (await receive()).get("more_body"):  # read the whole review, as a real webhook must
            pass
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    data_dir, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(app, host="127.0.0.1", port=port, http="httptools", loop="uvloop", proxy_headers=False, access_log=False, log_level="warning",
                ssl_certfile=f"{data_dir}/server.crt", ssl_keyfile=f"{data_dir}/server.key",
                ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=f"{data_dir}/ca.crt")
