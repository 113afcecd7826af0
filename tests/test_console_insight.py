"""The console's explain, who-can, audit-log and IAM pages, over HTTP against a real `kubegate up`.

Audit lines come from SubjectAccessReviews and TokenReviews posted to the cluster's webhooks
with the client certificate `kubegate webhook-config` issues, as a kube-apiserver posts them.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from conftest import Server, ensure_role, trust_policy
from console_client import ConsoleClient, alert
from test_authz_webhook import review, sar
from test_token_webhook import Apiserver, token_for

VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
TAG = uuid.uuid4().hex[:8]
CLUSTER = f"ci-{TAG}"


@pytest.fixture(scope="module")
def viewer(server: Server) -> Iterator[dict[str, str]]:
    """A cluster of this module with one role whose entry has View on team-a only."""
    eks = server.client("eks")
    eks.create_cluster(name=CLUSTER, roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API"})
    role = server.client("iam").create_role(RoleName=f"ci-viewer-{TAG}",
                                            AssumeRolePolicyDocument=trust_policy(server.account()))["Role"]
    eks.create_access_entry(clusterName=CLUSTER, principalArn=role["Arn"], kubernetesGroups=["viewers"])
    eks.associate_access_policy(clusterName=CLUSTER, principalArn=role["Arn"], policyArn=VIEW,
                                accessScope={"type": "namespace", "namespaces": ["team-a"]})
    yield {"role": role["Arn"]}
    eks.delete_cluster(name=CLUSTER)


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[ConsoleClient]:
    client = ConsoleClient(server)
    assert client.sign_in().status_code == 303
    yield client
    client.close()


def text(response: Any) -> str:
    """The page's visible text, tags dropped and entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))


def explain(client: ConsoleClient, **query: str) -> Any:
    return client.get(f"/console/clusters/{CLUSTER}/explain?{urlencode(query)}")


def test_explain_allows_view_and_denies_delete(admin: ConsoleClient, viewer: dict[str, str]) -> None:
    form = admin.get(f"/console/clusters/{CLUSTER}/explain")
    assert form.status_code == 200
    for field in ("principalArn", "verb", "resource", "namespace", "subresource", "name", "apiGroup", "session"):
        assert f'<label for="f-{field}"' in form.text and f'id="f-{field}"' in form.text
    assert f'<option value="{viewer["role"]}">' in form.text  # the picker offers the cluster's entries

    allowed = explain(admin, principalArn=viewer["role"], verb="get", resource="pods", namespace="team-a")
    assert allowed.status_code == 200, allowed.text
    page = text(allowed)
    assert "Allowed by kubegate's access policies" in page
    assert "AmazonEKSViewPolicy (namespace scope ['team-a']): allows" in page
    assert f"cluster {CLUSTER}: authentication mode API" in page
    assert f'href="/console/clusters/{CLUSTER}"' in allowed.text  # back to the cluster page

    denied = explain(admin, principalArn=viewer["role"], verb="delete", resource="pods", namespace="team-a")
    page = text(denied)
    assert denied.status_code == 200 and "Denied by kubegate's access policies" in page
    assert "AmazonEKSViewPolicy (namespace scope ['team-a']): does not allow" in page
    assert "left to RBAC for groups ['viewers']" in page
    elsewhere = text(explain(admin, principalArn=viewer["role"], verb="get", resource="pods", namespace="team-b"))
    assert "Denied" in elsewhere and "Allowed by" not in elsewhere

    stranger = text(explain(admin, principalArn=f"arn:aws:iam::{admin.server.account()}:role/nobody-{TAG}",
                            verb="get", resource="pods"))
    assert "not authenticated for this cluster" in stranger
    missing = explain(admin, principalArn=viewer["role"], resource="pods")
    assert missing.status_code == 400 and alert(missing.text) == "verb is required (InvalidParameterException)"
    unknown = admin.get(f"/console/clusters/no-such-{TAG}/explain?{urlencode({'principalArn': viewer['role'], 'verb': 'get', 'resource': 'pods'})}")
    assert unknown.status_code == 404 and "No cluster found" in (alert(unknown.text) or "")


def test_who_can_lists_the_viewer(admin: ConsoleClient, viewer: dict[str, str]) -> None:
    answer = admin.get(f"/console/clusters/{CLUSTER}/who-can?verb=get&resource=pods&namespace=team-a")
    assert answer.status_code == 200, answer.text
    page = text(answer)
    assert viewer["role"] in page and "AmazonEKSViewPolicy" in page
    assert f"arn:aws:iam::{admin.server.account()}:root" in page  # the creator's admin entry
    assert "Kubernetes RBAC bindings may grant more" in page
    explain_link = "/console/clusters/{}/explain?{}".format(CLUSTER, html.escape(urlencode(
        {"verb": "get", "resource": "pods", "namespace": "team-a", "principalArn": viewer["role"]})))
    assert explain_link in answer.text
    nobody = text(admin.get(f"/console/clusters/{CLUSTER}/who-can?verb=delete&resource=pods&namespace=team-a"))
    assert viewer["role"] not in nobody


@pytest.fixture(scope="module")
def traffic(server: Server, viewer: dict[str, str]) -> dict[str, Any]:
    """Audit lines for this module's cluster: a TokenReview and an allowed SAR for root, a denied SAR for a stranger."""
    with tempfile.TemporaryDirectory() as out:
        apiserver = Apiserver(server, CLUSTER, Path(out))
        apiserver.authz_url = apiserver.url.replace("/authenticate", "/authorize")
        root = apiserver.status(token_for(server, server.credentials(), CLUSTER))
        assert root["authenticated"] is True
        allowed = review(apiserver, sar(root["user"], {"namespace": "team-a", "verb": "get", "version": "v1",
                                                        "resource": "pods"}))
        stranger = {"username": f"mallory-{TAG}", "uid": "x", "extra": {}, "groups": []}
        denied = review(apiserver, sar(stranger, {"namespace": "team-a", "verb": "delete", "version": "v1",
                                                  "resource": "secrets"}))
        apiserver.client.close()
    assert allowed["allowed"] is True and denied["allowed"] is False
    return {"root": f"arn:aws:iam::{server.account()}:root", "stranger": stranger["username"]}


def rows(response: Any) -> list[str]:
    body = response.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [text_of(row) for row in body.split("<tr>")[1:] if "colspan" not in row]


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def test_audit_page_shows_and_filters(admin: ConsoleClient, traffic: dict[str, Any]) -> None:
    mine = admin.get(f"/console/audit?cluster={CLUSTER}")
    assert mine.status_code == 200, mine.text
    lines = rows(mine)
    assert len(lines) == 3, lines  # newest first: the denied SAR, the allowed SAR, the TokenReview
    assert "denied" in lines[0] and traffic["stranger"] in lines[0] and "delete secrets in team-a" in lines[0]
    assert "allowed" in lines[1] and "get pods in team-a" in lines[1]
    assert "authenticated" in lines[2] and traffic["root"] in lines[2]

    assert len(rows(admin.get(f"/console/audit?cluster={CLUSTER}&decision=allowed"))) == 1
    assert len(rows(admin.get(f"/console/audit?cluster={CLUSTER}&decision=authenticated"))) == 1
    by_principal = rows(admin.get(f"/console/audit?{urlencode({'principal': 'MALLORY-' + TAG})}"))
    assert len(by_principal) == 1 and CLUSTER in by_principal[0]
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert rows(admin.get(f"/console/audit?{urlencode({'cluster': CLUSTER, 'from': future})}")) == []
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(rows(admin.get(f"/console/audit?{urlencode({'cluster': CLUSTER, 'from': past})}"))) == 3
    assert rows(admin.get(f"/console/audit?{urlencode({'cluster': CLUSTER, 'to': past})}")) == []
    bad = admin.get("/console/audit?from=yesterday")
    assert bad.status_code == 400 and "from is not an ISO 8601 time" in (alert(bad.text) or "")


def test_audit_paging(admin: ConsoleClient, traffic: dict[str, Any]) -> None:
    first = admin.get("/console/audit")
    assert first.status_code == 200 and len(rows(first)) <= 50
    if 'rel="next"' in first.text:  # the shared server has more than 50 lines by now
        second = admin.get("/console/audit?page=2")
        assert 'rel="prev"' in second.text and rows(second) and rows(second)[0] not in rows(first)
    only = admin.get(f"/console/audit?cluster={CLUSTER}&page=2")
    assert rows(only) == [] and 'rel="prev"' in only.text and 'rel="next"' not in only.text


def user_with_key(server: Server, name: str, actions: list[str]) -> tuple[str, str]:
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="console", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_limited_principals_see_access_denied(server: Server, viewer: dict[str, str]) -> None:
    limited = ConsoleClient(server)
    try:
        assert limited.sign_in(user_with_key(server, f"ci-limited-{TAG}", ["iam:ListRoles"])).status_code == 303
        audit = limited.get("/console/audit")
        assert audit.status_code == 403
        assert re.fullmatch(rf"User: arn:aws:iam::\d+:user/ci-limited-{TAG} is not authorized to perform: "
                            r"kubegate:ReadAuditLog on resource: \* because no identity-based policy allows the "
                            r"kubegate:ReadAuditLog action \(AccessDenied\)", alert(audit.text) or ""), alert(audit.text)
        assert "<table" not in audit.text
        refused = explain(limited, principalArn=viewer["role"], verb="get", resource="pods")
        assert refused.status_code == 403
        assert "not authorized to perform: eks:ListAccessEntries" in (alert(refused.text) or "")
        assert "AccessDeniedException" in (alert(refused.text) or "")
        who = limited.get(f"/console/clusters/{CLUSTER}/who-can?verb=get&resource=pods")
        assert who.status_code == 403 and "eks:ListAccessEntries" in (alert(who.text) or "")
        users = limited.get("/console/iam")  # may list roles, not users: one section each
        assert users.status_code == 200 and f"ci-viewer-{TAG}" in users.text
        assert "iam:ListUsers" in (alert(users.text) or "")
    finally:
        limited.close()
    everything = ConsoleClient(server)
    try:
        assert everything.sign_in(user_with_key(server, f"ci-star-{TAG}", ["*"])).status_code == 303
        assert everything.get(f"/console/audit?cluster={CLUSTER}").status_code == 200
    finally:
        everything.close()


def test_iam_pages_show_roles_users_and_policies_escaped(server: Server, admin: ConsoleClient) -> None:
    """IAM names are ASCII ([\\w+=,.@-]+), so the odd input is in descriptions, policy values and the URL."""
    iam = server.client("iam")
    name = f"ci-role+=,.@-{TAG}"
    trust = json.loads(trust_policy(server.account()))
    trust["Statement"][0]["Condition"] = {"StringEquals": {"aws:PrincipalTag/team": "<script>alert(1)</script>"}}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description="<b>bold</b> & rôle ü")
    iam.put_role_policy(RoleName=name, PolicyName="read-pods", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "eks:Describe*", "Resource": "*",
                                                "Condition": {"StringEquals": {"aws:PrincipalTag/x": "ü ✓"}}}]}))
    user = f"ci-user-{TAG}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]

    listing = admin.get("/console/iam")
    assert listing.status_code == 200
    assert html.escape(name) in listing.text and f'href="/console/iam/roles/{quote(name, safe="/")}"' in listing.text
    assert f'href="/console/iam/users/{user}"' in listing.text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; rôle ü" in listing.text and "<b>bold</b>" not in listing.text

    role = admin.get(f"/console/iam/roles/{quote(name)}")
    assert role.status_code == 200, role.text
    page = text(role)
    assert f"Role {name}" in page and '"Action": "sts:AssumeRole"' in page
    assert "<script>" not in role.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in role.text
    assert "read-pods" in page and '"Action": "eks:Describe*"' in page and '"ü ✓"' in page
    assert '"Version": "2012-10-17",\n' in html.unescape(role.text)  # pretty-printed, not URL-encoded

    shown = admin.get(f"/console/iam/users/{user}")
    assert shown.status_code == 200 and key["AccessKeyId"] in shown.text and "Active" in shown.text
    assert key["SecretAccessKey"] not in shown.text

    for odd in ("<img src=x onerror=alert(1)>", "rôle-ü"):
        answer = admin.get("/console/iam/roles/" + quote(odd))
        assert answer.status_code == 400 and "ValidationError" in (alert(answer.text) or "")
        assert "<img" not in answer.text and html.escape(odd) in answer.text
    missing = admin.get(f"/console/iam/roles/nope-{TAG}")
    assert missing.status_code == 404 and "NoSuchEntity" in (alert(missing.text) or "")


def test_audit_reader_walks_rotations_newest_first_within_its_bound(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's reader, on files AuditLog rotated: newest first across files, bad lines skipped, bounded."""
    from kubegate.api.audit import AuditLog
    from kubegate.console import insight_audit

    path = tmp_path / "audit.log"
    log = AuditLog(path, max_bytes=4000, backups=3)
    for n in range(120):
        log.record("authorization", cluster="c", n=n, allowed=n % 3 == 0, request={"verb": "get", "resource": "pods"})
    with open(path, "ab") as handle:
        handle.write(b"not json\n" + b"[1, 2]\n" + b"x" * (insight_audit.MAX_LINE + 10) + b"\n")
    log.record("authorization", cluster="c", n=120, allowed=True)
    assert [p.name for p in insight_audit.log_files(path)] == ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]

    everything = insight_audit.Filters()
    first = insight_audit.search(path, everything, 1)
    numbers = [json.loads(r["json"])["n"] for r in first.rows]
    assert numbers == list(range(120, 70, -1)) and first.more and not first.cut_short
    second = insight_audit.search(path, everything, 2)
    assert [json.loads(r["json"])["n"] for r in second.rows][0] == 70
    allowed = insight_audit.search(path, insight_audit.Filters(decision="allowed"), 1)
    assert allowed.rows and all(json.loads(r["json"])["n"] % 3 == 0 for r in allowed.rows)

    monkeypatch.setattr(insight_audit, "SCAN_LIMIT", 5)
    bounded = insight_audit.search(path, everything, 1)
    assert bounded.cut_short == ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]
    assert len(bounded.rows) == 5 + 5 + 5 + 5 - 3  # audit.log's five newest include the three bad lines


def test_audit_page_says_when_the_log_goes_to_stdout(tmp_path: Path) -> None:
    private = Server(tmp_path / "data", extra_args=("--audit-log", "-"))
    private.start()
    client = ConsoleClient(private)
    try:
        assert client.sign_in().status_code == 303
        page = client.get("/console/audit")
        assert page.status_code == 200 and "writes its audit log to standard output" in page.text
        assert "<table" not in page.text
    finally:
        client.close()
        private.stop()
