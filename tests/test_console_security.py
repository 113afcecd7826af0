"""The console's defences, at the HTTP level: cookies, CSRF, Origin, fixation, expiry, links, rate limits.

Failed sign-ins count per client address, so tests that fail sign-ins on purpose connect from
loopback addresses of their own (127.0.0.x) and leave 127.0.0.1's budget to the other tests.
"""

from __future__ import annotations

import hashlib
import sqlite3
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conftest import BIN, Server, ensure_role
from console_client import ConsoleClient, alert
from kubegate.console.sessions import COOKIE

FOREIGN = "https://evil.example"


@pytest.fixture
def client(server: Server) -> Iterator[ConsoleClient]:
    console = ConsoleClient(server)
    yield console
    console.close()


@pytest.fixture
def signed_in(client: ConsoleClient) -> ConsoleClient:
    answer = client.sign_in()
    assert answer.status_code == 303, answer.text
    assert client.csrf
    return client


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def attributes(header: str) -> dict[str, str]:
    parts = [part.strip() for part in header.split(";")[1:]]
    return {name.lower(): value for name, _, value in (part.partition("=") for part in parts)}


def is_sign_in_redirect(response: httpx.Response) -> bool:
    return response.status_code == 303 and str(response.headers["location"]).startswith("/console/login")


def still_signed_in(client: ConsoleClient) -> bool:
    return client.get("/console/clusters").status_code == 200


def user_with_key(server: Server, name: str, actions: list[str] | None = None) -> tuple[str, str]:
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if actions:
        import json

        iam.put_user_policy(UserName=name, PolicyName="console", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def from_address(server: Server, address: str) -> ConsoleClient:
    """A client whose connections come from another loopback address: failed sign-ins count per
    address, so tests that fail them on purpose use their own and leave 127.0.0.1's budget alone."""
    client = ConsoleClient(server)
    client.http.close()
    client.http = httpx.Client(base_url=server.endpoint, follow_redirects=False, timeout=30,
                               headers={"Origin": server.endpoint},
                               transport=httpx.HTTPTransport(verify=ssl.create_default_context(cafile=server.ca),
                                                             local_address=address))
    return client


def db_path(server: Server) -> Path:
    return server.data_dir / "kubegate.db"


# --- the session cookie ------------------------------------------------------------------------


def test_cookie_flags(client: ConsoleClient) -> None:
    form = client.get("/console/login")
    login = attributes(set_cookies(form)["kubegate_console_login"])
    answer = client.sign_in()
    assert answer.status_code == 303
    header = set_cookies(answer)[COOKIE]
    flags = attributes(header)
    assert "httponly" in flags and "secure" in flags
    assert flags["samesite"].lower() == "strict"
    assert flags["path"] == "/console"
    assert "max-age" not in flags and "expires" not in flags  # a browser-session cookie; the server expires it
    assert "domain" not in flags  # host-only
    assert "httponly" in login and "secure" in login and login["samesite"].lower() == "strict"
    assert login["path"] == "/console"


def test_session_id_is_random_and_stored_only_as_a_digest(signed_in: ConsoleClient) -> None:
    cookie = signed_in.http.cookies[COOKIE]
    assert len(cookie) >= 40
    with sqlite3.connect(db_path(signed_in.server)) as db:
        ids = [row[0] for row in db.execute("SELECT id_sha256 FROM console_sessions")]
    assert hashlib.sha256(cookie.encode()).hexdigest() in ids
    assert cookie not in ids


# --- CSRF and Origin ---------------------------------------------------------------------------


def test_post_without_or_with_forged_csrf_token_is_refused(signed_in: ConsoleClient) -> None:
    missing = signed_in.http.post("/console/logout", data={})
    assert missing.status_code == 403
    assert "security token" in (alert(missing.text) or "")
    forged = signed_in.post("/console/logout", csrf="x" * len(signed_in.csrf))
    assert forged.status_code == 403
    other = ConsoleClient(signed_in.server)  # another session's genuine token is not this one's
    try:
        assert other.sign_in().status_code == 303
        assert other.csrf != signed_in.csrf
        assert signed_in.post("/console/logout", csrf=other.csrf).status_code == 403
    finally:
        other.close()
    assert still_signed_in(signed_in)  # nothing happened: the session was not signed out


def test_post_from_a_foreign_origin_is_refused(signed_in: ConsoleClient) -> None:
    answer = signed_in.http.post("/console/logout", data={"csrf": signed_in.csrf}, headers={"Origin": FOREIGN})
    assert answer.status_code == 403
    assert "another site" in (alert(answer.text) or "")
    null = signed_in.http.post("/console/logout", data={"csrf": signed_in.csrf}, headers={"Origin": "null"})
    assert null.status_code == 403
    assert still_signed_in(signed_in)
    done = signed_in.post("/console/logout")  # the same post from the console itself works
    assert done.status_code == 303 and not still_signed_in(signed_in)


def test_sign_in_form_needs_its_token_and_origin(server: Server, client: ConsoleClient) -> None:
    key, secret = server.credentials()
    client.get("/console/login")
    no_token = client.http.post("/console/login", data={"access_key_id": key, "secret_access_key": secret})
    assert no_token.status_code == 403 and COOKIE not in set_cookies(no_token)
    token = client.http.cookies["kubegate_console_login"]
    foreign = client.http.post("/console/login", headers={"Origin": FOREIGN}, data={
        "login_token": token, "access_key_id": key, "secret_access_key": secret})
    assert foreign.status_code == 403 and COOKIE not in set_cookies(foreign)


def test_posts_need_a_session(client: ConsoleClient) -> None:
    answer = client.http.post("/console/logout", data={"csrf": "anything"})
    assert answer.status_code == 401


# --- session fixation, tampering, expiry --------------------------------------------------------


def test_session_fixation(server: Server, client: ConsoleClient) -> None:
    planted = "attacker-chosen-session-id-0123456789abcdef"
    client.http.cookies.set(COOKIE, planted, domain="127.0.0.1", path="/console")
    assert is_sign_in_redirect(client.get("/console/clusters"))  # it grants nothing before
    answer = client.sign_in()
    issued = set_cookies(answer)[COOKIE].split(";", 1)[0].split("=", 1)[1]
    assert issued != planted
    attacker = ConsoleClient(server)
    try:
        attacker.http.cookies.set(COOKIE, planted, domain="127.0.0.1", path="/console")
        assert is_sign_in_redirect(attacker.get("/console/clusters"))  # nor after the victim signed in
    finally:
        attacker.close()


def test_tampered_cookie_is_sent_to_sign_in(signed_in: ConsoleClient) -> None:
    genuine = signed_in.http.cookies[COOKIE]
    tampered = genuine[:-1] + ("A" if genuine[-1] != "A" else "B")
    for value in (tampered, genuine + "x", "", "x" * 4000):
        signed_in.http.cookies.set(COOKIE, value, domain="127.0.0.1", path="/console")
        answer = signed_in.get("/console/clusters")
        assert is_sign_in_redirect(answer), value
        assert "next=%2Fconsole%2Fclusters" in answer.headers["location"]
    signed_in.http.cookies.set(COOKIE, genuine, domain="127.0.0.1", path="/console")
    assert still_signed_in(signed_in)


def test_idle_session_expires(signed_in: ConsoleClient) -> None:
    digest = hashlib.sha256(signed_in.http.cookies[COOKIE].encode()).hexdigest()
    idle = (datetime.now(timezone.utc) - timedelta(minutes=31)).replace(tzinfo=None)
    with sqlite3.connect(db_path(signed_in.server), timeout=10) as db:
        changed = db.execute("UPDATE console_sessions SET last_seen = ? WHERE id_sha256 = ?",
                             (idle.strftime("%Y-%m-%d %H:%M:%S.%f"), digest)).rowcount
    assert changed == 1
    assert is_sign_in_redirect(signed_in.get("/console/clusters"))
    with sqlite3.connect(db_path(signed_in.server), timeout=10) as db:
        left = db.execute("SELECT count(*) FROM console_sessions WHERE id_sha256 = ?", (digest,)).fetchone()[0]
    assert left == 0  # ended, not merely refused once


def test_absolute_expiry(signed_in: ConsoleClient) -> None:
    digest = hashlib.sha256(signed_in.http.cookies[COOKIE].encode()).hexdigest()
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).replace(tzinfo=None)
    with sqlite3.connect(db_path(signed_in.server), timeout=10) as db:
        db.execute("UPDATE console_sessions SET expires_at = ? WHERE id_sha256 = ?",
                   (past.strftime("%Y-%m-%d %H:%M:%S.%f"), digest))
    assert is_sign_in_redirect(signed_in.get("/console/clusters"))


def test_deactivated_key_ends_the_session(server: Server, client: ConsoleClient) -> None:
    key = user_with_key(server, "console-sec-deactivated", ["eks:List*"])
    assert client.sign_in(key).status_code == 303
    assert still_signed_in(client)
    server.client("iam").update_access_key(UserName="console-sec-deactivated", AccessKeyId=key[0], Status="Inactive")
    assert is_sign_in_redirect(client.get("/console/clusters"))
    server.client("iam").update_access_key(UserName="console-sec-deactivated", AccessKeyId=key[0], Status="Active")
    assert is_sign_in_redirect(client.get("/console/clusters"))  # the session is gone, not suspended


def test_deleted_user_key_cannot_sign_in(server: Server) -> None:
    key = user_with_key(server, "console-sec-deleted")
    server.client("iam").delete_access_key(UserName="console-sec-deleted", AccessKeyId=key[0])
    client = from_address(server, "127.0.0.5")
    try:
        answer = client.sign_in(key)
    finally:
        client.close()
    assert answer.status_code == 401 and COOKIE not in set_cookies(answer)
    assert "not valid" in (alert(answer.text) or "")


# --- the one-time link ------------------------------------------------------------------------


def link_token(server: Server) -> str:
    url = subprocess.run([str(BIN / "kubegate"), "console-login", "--data-dir", str(server.data_dir)],
                         check=True, capture_output=True, text=True).stdout.strip()
    parts = urlsplit(url)
    assert parts.path == "/console/link"
    return parse_qs(parts.query)["token"][0]


def test_one_time_link_works_once_and_only_by_post(server: Server, client: ConsoleClient) -> None:
    token = link_token(server)
    for _ in range(2):  # a mail scanner prefetching the link, then the person
        shown = client.get("/console/link", params={"token": token})
        assert shown.status_code == 200 and COOKIE not in set_cookies(shown)
        assert 'method="post"' in shown.text and "<button" in shown.text
    assert is_sign_in_redirect(client.get("/console/clusters"))
    used = client.http.post("/console/link", data={"token": token})
    assert used.status_code == 303 and used.headers["location"] == "/console/clusters"
    assert COOKIE in set_cookies(used)
    assert still_signed_in(client)
    again = from_address(server, "127.0.0.6")  # a refused link counts as a failed sign-in
    try:
        second = again.http.post("/console/link", data={"token": token})
        assert second.status_code == 401 and COOKIE not in set_cookies(second)
        assert "used already" in (alert(second.text) or "")
    finally:
        again.close()


def test_link_post_from_a_foreign_origin_is_refused(server: Server, client: ConsoleClient) -> None:
    token = link_token(server)
    foreign = client.http.post("/console/link", data={"token": token}, headers={"Origin": FOREIGN})
    assert foreign.status_code == 400 and COOKIE not in set_cookies(foreign)
    assert client.http.post("/console/link", data={"token": token}).status_code == 303  # not spent by the refusal


# --- headers, redirects, GET -----------------------------------------------------------------


def test_security_headers_on_every_kind_of_page(signed_in: ConsoleClient) -> None:
    anonymous = ConsoleClient(signed_in.server)
    try:
        answers = [anonymous.get("/console/login"), anonymous.get("/console/clusters"),
                   signed_in.get("/console/clusters"), signed_in.get("/console/no-such-page"),
                   signed_in.http.post("/console/logout", data={})]
    finally:
        anonymous.close()
    for answer in answers:
        csp = answer.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, answer.url
        assert "script-src" not in csp or "'unsafe-inline'" not in csp
        assert answer.headers.get("x-frame-options") == "DENY"
        assert answer.headers.get("x-content-type-options") == "nosniff"
        # A link's token never leaves in a Referer to another site; not "no-referrer", with which browsers
        # send `Origin: null` on the console's own posts (refused: the browser tests would fail to sign in).
        assert answer.headers.get("referrer-policy") == "same-origin"
        assert answer.headers.get("cache-control") == "no-store"
    assert answers[3].status_code == 404


def test_no_open_redirect_after_sign_in(server: Server) -> None:
    for target, expected in (("https://evil.example/", "/console/clusters"), ("//evil.example/x", "/console/clusters"),
                             ("/console/\\evil", "/console/clusters"), ("/console/audit", "/console/audit")):
        console = ConsoleClient(server)
        try:
            access_key, secret = server.credentials()
            console.get("/console/login", params={"next": target})
            token = console.http.cookies["kubegate_console_login"]
            answer = console.http.post("/console/login", data={
                "login_token": token, "access_key_id": access_key, "secret_access_key": secret, "next": target})
            assert answer.status_code == 303 and answer.headers["location"] == expected, target
        finally:
            console.close()


def test_login_page_escapes_what_it_echoes(client: ConsoleClient) -> None:
    page = client.get("/console/login", params={"next": '/console/"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in page.text


# --- every form of the cluster pages ------------------------------------------------------------


POLICY = "arn:aws:eks::aws:cluster-access-policy/"


@pytest.fixture
def cluster(server: Server) -> Iterator[dict[str, str]]:
    """A cluster with one entry holding View on team-a, and a role with no entry yet."""
    name = f"sec-{uuid.uuid4().hex[:8]}"
    eks = server.client("eks")
    eks.create_cluster(name=name, roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    holder, newcomer = ensure_role(server, f"{name}-holder"), ensure_role(server, f"{name}-newcomer")
    eks.create_access_entry(clusterName=name, principalArn=holder, kubernetesGroups=["g1"])
    eks.associate_access_policy(clusterName=name, principalArn=holder, policyArn=POLICY + "AmazonEKSViewPolicy",
                                accessScope={"type": "namespace", "namespaces": ["team-a"]})
    yield {"name": name, "holder": holder, "newcomer": newcomer}
    eks.delete_cluster(name=name)


def forms(cluster: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Each POST form of the cluster pages, with fields that would change something."""
    holder = cluster["holder"]
    return [
        ("/entries", {"principalArn": cluster["newcomer"], "type": "STANDARD"}),
        ("/entry/update", {"principalArn": holder, "groups": "changed"}),
        ("/entry/associate", {"principalArn": holder, "policyArn": POLICY + "AmazonEKSAdminPolicy", "scope": "cluster"}),
        ("/entry/disassociate", {"principalArn": holder, "policyArn": POLICY + "AmazonEKSViewPolicy"}),
        ("/entry/delete", {"principalArn": holder, "confirm": "yes"}),
        ("/mode", {"to": "API"}),
    ]


def access_state(server: Server, name: str) -> Any:
    """Everything those forms could change, as the EKS API reports it."""
    eks = server.client("eks")
    entries = sorted(eks.list_access_entries(clusterName=name)["accessEntries"])
    described = [(arn, sorted(eks.describe_access_entry(clusterName=name, principalArn=arn)["accessEntry"]
                              .get("kubernetesGroups", [])),
                  sorted(p["policyArn"] for p in eks.list_associated_access_policies(
                      clusterName=name, principalArn=arn)["associatedAccessPolicies"])) for arn in entries]
    return described, eks.describe_cluster(name=name)["cluster"]["accessConfig"]["authenticationMode"]


def test_every_form_refuses_a_missing_forged_or_foreign_post(server: Server, signed_in: ConsoleClient,
                                                             cluster: dict[str, str]) -> None:
    before = access_state(server, cluster["name"])
    base = f"/console/clusters/{cluster['name']}"
    for path, data in forms(cluster):
        missing = signed_in.http.post(base + path, data=data)
        forged = signed_in.post(base + path, data, csrf=signed_in.csrf[::-1])
        foreign = signed_in.http.post(base + path, data={"csrf": signed_in.csrf, **data}, headers={"Origin": FOREIGN})
        for answer in (missing, forged, foreign):
            assert answer.status_code == 403, (path, answer.status_code)
            assert alert(answer.text), path
    assert access_state(server, cluster["name"]) == before
    done = signed_in.post(base + "/entries", forms(cluster)[0][1])  # the genuine post does work
    assert done.status_code == 303
    assert cluster["newcomer"] in server.client("eks").list_access_entries(clusterName=cluster["name"])["accessEntries"]


def test_get_never_changes_anything(server: Server, signed_in: ConsoleClient, cluster: dict[str, str]) -> None:
    before = access_state(server, cluster["name"])
    base = f"/console/clusters/{cluster['name']}"
    for path, data in forms(cluster):
        answer = signed_in.get(base + path, params={"csrf": signed_in.csrf, **data})
        if path == "/mode":  # the mode page's GET is the preview; only its POST switches
            assert answer.status_code == 200 and ("would lose access" in answer.text or "Nobody" in answer.text)
        else:
            assert answer.status_code == 405, path
    assert signed_in.get("/console/logout", params={"csrf": signed_in.csrf}).status_code == 405
    assert access_state(server, cluster["name"]) == before
    assert still_signed_in(signed_in)


def test_pages_escape_what_they_echo(signed_in: ConsoleClient, cluster: dict[str, str]) -> None:
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    for path, params in ((f"/console/clusters/{cluster['name']}/explain", {"principalArn": hostile, "verb": hostile}),
                         (f"/console/clusters/{cluster['name']}/who-can", {"verb": hostile, "resource": hostile}),
                         (f"/console/clusters/{cluster['name']}/matrix", {"principal": hostile, "namespaces": hostile}),
                         ("/console/audit", {"cluster": hostile, "principal": hostile}),
                         (f"/console/clusters/{cluster['name']}/entry", {"principalArn": hostile}),
                         (f"/console/clusters/{cluster['name']}/mode", {"to": hostile})):
        answer = signed_in.get(path, params=params)
        assert "<script>alert(1)" not in answer.text and "<img src=x" not in answer.text, path
        assert "&lt;script&gt;alert(1)" in answer.text, path


def test_over_long_fields_are_refused(signed_in: ConsoleClient) -> None:
    answer = signed_in.post("/console/logout", {"padding": "x" * 5000})
    assert answer.status_code == 413
    assert still_signed_in(signed_in)


# --- failed sign-ins ---------------------------------------------------------------------------


def test_failed_sign_ins_are_rate_limited_per_address(server: Server) -> None:
    access_key, secret = server.credentials()
    client = from_address(server, "127.0.0.3")
    try:
        for attempt in range(5):
            answer = client.sign_in((access_key, "wrong-secret"))
            assert answer.status_code == 401, attempt
            assert "not valid" in (alert(answer.text) or "")
        sixth = client.sign_in((access_key, secret))
        assert sixth.status_code == 401 and COOKIE not in set_cookies(sixth)
        assert "Too many failed sign-ins" in (alert(sixth.text) or "")
        link = client.http.post("/console/link", data={"token": link_token(server)})
        assert link.status_code == 401 and "Too many failed sign-ins" in (alert(link.text) or "")
    finally:
        client.close()
    elsewhere = from_address(server, "127.0.0.4")  # another address is not limited
    try:
        assert elsewhere.sign_in((access_key, secret)).status_code == 303
    finally:
        elsewhere.close()
