"""The web console under ``/console``: server-rendered pages over the same APIs, as the signed-in principal.

Every read and write a page makes goes through :meth:`Console.call`, which serializes it as an
SDK would and runs it through the EKS or IAM API's own decoding and IAM authorization as the
session's caller (the path CloudFormation stacks take too). So the console can do exactly what
its user could do with the AWS CLI, says what the CLI would say when it cannot, and never
touches the store for access state. Pages are plain HTML forms (no build step, no script
needed, nothing fetched from elsewhere); every POST carries the session's CSRF token; nothing
changes on GET.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from kubegate.api.aws_apis import authorize_eks
from kubegate.api.aws_endpoint import AwsApi
from kubegate.api import iam as iam_api
from kubegate.api.stack_calls import ApiCalls
from kubegate.console.sessions import COOKIE, Session, Sessions, SignInRefused
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.errors import AccessDenied
from kubegate.engine.registry import SnapshotRegistry
from kubegate.identity.authorizer import Authorizer, one_request
from kubegate.identity.iam import IamService
from kubegate.service.access import AccessService
from kubegate.service.stacks.calls import ServiceError
from kubegate.store.database import Unavailable

HERE = Path(__file__).parent
LOGIN_COOKIE = "kubegate_console_login"  # double-submit token of the sign-in form (no session yet)
MAX_FORM_FIELD = 4096
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A sign-in link's secret never leaves for another site in a Referer; "no-referrer" would also
    # make browsers send `Origin: null` on the console's own form posts, which are then refused.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class View:
    """One console request: its session, and the facts the IAM check sees."""

    request: Request
    session: Session
    facts: RequestFacts
    form: dict[str, str] = field(default_factory=dict)

    @property
    def caller(self) -> Caller:
        return self.session.caller


class Console:
    def __init__(self, *, sessions: Sessions, apis: Mapping[str, AwsApi], access: AccessService, iam: IamService,
                 authorizer: Authorizer, registry: SnapshotRegistry, clock: Callable[[], datetime],
                 extras: Mapping[str, Any] | None = None) -> None:
        self.sessions = sessions
        self.apis = apis
        self.access = access
        self.iam = iam
        self.authorizer = authorizer
        self.registry = registry
        self.clock = clock
        self.extras = dict(extras or {})  # services a page module needs (insight, changes, audit path)
        environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
        self.templates = Jinja2Templates(env=environment)

    # --- calls as the signed-in principal -----------------------------------------------------

    def call(self, view: View, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One EKS or IAM operation as the session's caller; refusals raise ServiceError with the API's message."""
        return ApiCalls(self.apis, view.caller, view.facts, self.clock)(service, operation, params)

    def missing(self, view: View, service: str, operation: str, params: dict[str, Any]) -> str | None:
        """The IAM action the caller lacks for this operation (the button is shown disabled), or None."""
        try:
            if service == "eks":
                authorize_eks(self.access, self.authorizer, view.caller, operation, params, view.facts)
            else:
                resource, keys = iam_api.authorization(self.iam, operation, params, view.caller)
                self.authorizer.check(view.caller, f"iam:{operation}", resource, view.facts, keys)
        except AccessDenied as exc:
            return _denied_action(exc.message, f"{service}:{operation}")
        except Exception:  # a resource that cannot be named yet: let the call itself decide
            return None
        return None

    def render(self, view: View | None, request: Request, template: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        session = view.session if view else None
        return self.templates.TemplateResponse(request, template, {
            "session": session, "caller": session.caller if session else None,
            "csrf": session.csrf if session else "", **context,
        }, status_code=status, headers=SECURITY_HEADERS)


def _denied_action(message: str, fallback: str) -> str:
    """The action an AccessDenied message names ("… is not authorized to perform: eks:X on …")."""
    marker = "perform: "
    if marker in message:
        return message.split(marker, 1)[1].split(" ", 1)[0]
    return fallback


Handler = Callable[[Console, View], Awaitable[Response]]


def page(console: Console, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A GET page for a signed-in browser; anyone else is sent to sign in."""

    async def endpoint(request: Request) -> Response:
        try:
            session = await run_in_threadpool(console.sessions.current, request.cookies.get(COOKIE))
            if session is None:
                return _to_login(request)
            with one_request():
                return await handler(console, _view(console, request, session))
        except Unavailable:
            return _unavailable(console, request)

    return endpoint


def action(console: Console, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A POST: a live session, its CSRF token, and bounded fields, or nothing happens."""

    async def endpoint(request: Request) -> Response:
        try:
            return await _act(request)
        except Unavailable:
            return _unavailable(console, request)

    async def _act(request: Request) -> Response:
        session = await run_in_threadpool(console.sessions.current, request.cookies.get(COOKIE))
        if session is None:
            return _refused(console, request, "Your session has ended. Sign in again.", 401)
        form = await _bounded_form(request)
        if form is None:
            return _refused(console, request, "A form field is too long.", 413)
        if not Sessions.csrf_ok(session, form.get("csrf")):
            return _refused(console, request, "The form's security token is missing or wrong. Reload the page and "
                                              "try again.", 403)
        if not _same_origin(request):
            return _refused(console, request, "The form was posted from another site.", 403)
        view = _view(console, request, session)
        view.form = form
        with one_request():
            return await handler(console, view)

    return endpoint


def _unavailable(console: Console, request: Request) -> Response:
    """The database is unreachable: sessions cannot be checked, so nothing is shown or done."""
    return console.render(None, request, "message.html", status=503, title="Unavailable",
                          message="kubegate cannot reach its database right now. Try again shortly.")


def _view(console: Console, request: Request, session: Session) -> View:
    facts = RequestFacts(now=console.clock(), source_ip=request.client.host if request.client else "",
                         region=console.access.region, user_agent=request.headers.get("user-agent", ""))
    return View(request, session, facts)


async def _bounded_form(request: Request) -> dict[str, str] | None:
    try:
        data: FormData = await request.form(max_files=0, max_fields=200, max_part_size=MAX_FORM_FIELD)
    except Exception:
        return None
    out: dict[str, str] = {}
    for key, value in data.multi_items():
        if not isinstance(value, str) or len(value) > MAX_FORM_FIELD:
            return None
        out[key] = f"{out[key]}\n{value}" if key in out else value
    return out


def _same_origin(request: Request) -> bool:
    """Browsers send Origin on POST; when present it must be this server (defence beside the token)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin in (f"https://{host}", f"http://{host}")


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303,
                            headers=SECURITY_HEADERS)


def _refused(console: Console, request: Request, message: str, status: int) -> Response:
    return console.render(None, request, "message.html", status=status, title="Refused", message=message)


def safe_next(value: str | None) -> str:
    """Only a path of this console: never an open redirect."""
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/clusters"


def cookie_flags(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", secure=True, httponly=True,
                        samesite="strict")


# --- signing in and out ----------------------------------------------------------------------


def _auth_routes(console: Console) -> list[BaseRoute]:
    async def home(request: Request) -> Response:
        session = await run_in_threadpool(console.sessions.current, request.cookies.get(COOKIE))
        return RedirectResponse("/console/clusters" if session else "/console/login", status_code=303,
                                headers=SECURITY_HEADERS)

    async def login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = console.render(None, request, "login.html", status=status, login_token=token, error=error,
                                  next=safe_next(request.query_params.get("next")))
        cookie_flags(response, LOGIN_COOKIE, token, max_age=900)
        return response

    async def login_get(request: Request) -> Response:
        return await login_form(request)

    async def login_post(request: Request) -> Response:
        form = await _bounded_form(request)
        if form is None:
            return await login_form(request, "A field is too long.", 413)
        expected = request.cookies.get(LOGIN_COOKIE)
        if not expected or not secrets.compare_digest(expected, form.get("login_token", "")) or not _same_origin(request):
            return await login_form(request, "The sign-in form expired. Try again.", 403)
        source = request.client.host if request.client else "-"
        try:
            cookie, _ = await run_in_threadpool(
                console.sessions.sign_in_with_key, form.get("access_key_id", ""), form.get("secret_access_key", ""),
                form.get("session_token") or None, source)
        except SignInRefused as exc:
            return await login_form(request, exc.message, 401)
        return _signed_in(cookie, safe_next(form.get("next")))

    async def link_get(request: Request) -> Response:
        """Shows a button: following a link (or a mail scanner prefetching it) changes nothing."""
        token = request.query_params.get("token", "")
        return console.render(None, request, "link.html", link_token=token)

    async def link_post(request: Request) -> Response:
        form = await _bounded_form(request)
        if form is None or not _same_origin(request):
            return _refused(console, request, "The sign-in link could not be used.", 400)
        source = request.client.host if request.client else "-"
        try:
            cookie, _ = await run_in_threadpool(console.sessions.sign_in_with_link, form.get("token", ""), source)
        except SignInRefused as exc:
            return console.render(None, request, "message.html", status=401, title="Sign-in refused",
                                  message=exc.message)
        return _signed_in(cookie, "/console/clusters")

    async def logout(console_: Console, view: View) -> Response:
        await run_in_threadpool(console_.sessions.sign_out, view.session)
        response = RedirectResponse("/console/login", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/console", secure=True, httponly=True, samesite="strict")
        return response

    def guarded(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Unavailable:
                return _unavailable(console, request)
        return run

    return [
        Route("/", guarded(home), methods=["GET"]),
        Route("/login", login_get, methods=["GET"]),
        Route("/login", guarded(login_post), methods=["POST"]),
        Route("/link", link_get, methods=["GET"]),
        Route("/link", guarded(link_post), methods=["POST"]),
        Route("/logout", action(console, logout), methods=["POST"]),
    ]


def _signed_in(cookie: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    cookie_flags(response, COOKIE, cookie, max_age=None)
    response.delete_cookie(LOGIN_COOKIE, path="/console", secure=True, httponly=True, samesite="strict")
    return response


def console_app(console: Console) -> Starlette:
    from kubegate.console import pages

    routes: list[BaseRoute] = [*_auth_routes(console), *pages.routes(console),
                               Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]

    async def not_found(request: Request, exc: Exception) -> Response:
        return console.render(None, request, "message.html", status=404, title="Not found",
                              message="There is no such page.")

    return Starlette(routes=routes, exception_handlers={404: not_found})


def failure(exc: ServiceError) -> str:
    """What a form shows for a refused call: the API's own message, and its code."""
    return f"{exc.message} ({exc.code})"
