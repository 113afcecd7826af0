"""A browser-like HTTP client for the web console: cookies, the sign-in form and CSRF tokens.

HTTP-level console tests use it; the real-browser tests use Chromium instead.
"""

from __future__ import annotations

import re
import ssl
from typing import Any

import httpx

from conftest import Server

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')
_ALERT = re.compile(r'role="alert"[^>]*>(.*?)</', re.S)


class ConsoleClient:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.endpoint, verify=ssl.create_default_context(cafile=server.ca), follow_redirects=False, timeout=30,
                                 headers={"Origin": server.endpoint})
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def sign_in(self, key: tuple[str, str] | None = None, session_token: str | None = None) -> httpx.Response:
        access_key, secret = key or self.server.credentials()
        form = self.http.get("/console/login")
        token = _LOGIN.search(form.text)
        assert token, form.text
        answer = self.http.post("/console/login", data={
            "login_token": token.group(1), "access_key_id": access_key, "secret_access_key": secret,
            "session_token": session_token or "", "next": "/console/clusters"})
        if answer.status_code == 303:
            self.refresh_csrf()
        return answer

    def refresh_csrf(self, path: str = "/console/clusters") -> None:
        page = self.http.get(path)
        found = _CSRF.search(page.text)
        self.csrf = found.group(1) if found else ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None) -> httpx.Response:
        """A form post with the session's CSRF token (or the one given)."""
        return self.http.post(path, data={"csrf": self.csrf if csrf is None else csrf, **(data or {})})


def alert(html: str) -> str | None:
    """The text of the page's first role="alert" element (errors and refusals)."""
    found = _ALERT.search(html)
    return re.sub(r"\s+", " ", found.group(1)).strip() if found else None
