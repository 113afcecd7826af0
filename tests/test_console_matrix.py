"""The access matrix page over HTTP: levels per cell, explain links, paging, and what a limited principal sees."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from conftest import Server, ensure_role
from console_client import ConsoleClient, alert

POLICY = "arn:aws:eks::aws:cluster-access-policy/"
VIEW, EDIT = POLICY + "AmazonEKSViewPolicy", POLICY + "AmazonEKSEditPolicy"


class Cells(HTMLParser):
    """The matrix's cells: (principal, namespace or "" for the cluster column) -> {level, inherited, href}."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict[str, Any]] = {}
        self.columns: list[str] = []
        self._row = ""
        self._index = 0
        self._cell: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and "data-principal" in found:
            self._row, self._index = found["data-principal"] or "", 0
        elif tag == "th" and "data-ns" in found:
            self.columns.append(found["data-ns"] or "")
        elif tag == "td" and self._row:
            classes = (found.get("class") or "").split()
            level = next(c[3:] for c in classes if c.startswith("lv-"))
            self._cell = (self._row, "" if self._index == 0 else self.columns[self._index - 1])
            self._index += 1
            self.cells[self._cell] = {"level": "" if level == "none" else level, "inherited": "inh" in classes}
        elif tag == "a" and self._cell is not None:
            self.cells[self._cell]["href"] = found["href"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = ""


def parse(html: str) -> Cells:
    cells = Cells()
    cells.feed(html)
    return cells


@pytest.fixture
def client(server: Server) -> Iterator[ConsoleClient]:
    console = ConsoleClient(server)
    yield console
    console.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_cluster(server: Server, name: str) -> Any:
    eks = server.client("eks")
    eks.create_cluster(name=name, roleArn=f"arn:aws:iam::{server.account()}:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]}, accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False})
    return eks


def test_levels_inheritance_and_explain_links(server: Server, client: ConsoleClient) -> None:
    cluster = unique("mx")
    eks = make_cluster(server, cluster)
    role = ensure_role(server, unique("mx-role"))
    groups_only = ensure_role(server, unique("mx-groups"))
    eks.create_access_entry(clusterName=cluster, principalArn=role)
    eks.associate_access_policy(clusterName=cluster, principalArn=role, policyArn=EDIT,
                                accessScope={"type": "namespace", "namespaces": ["team-a"]})
    eks.associate_access_policy(clusterName=cluster, principalArn=role, policyArn=VIEW, accessScope={"type": "cluster"})
    eks.create_access_entry(clusterName=cluster, principalArn=groups_only, kubernetesGroups=["devs"])
    assert client.sign_in().status_code == 303

    page = client.get(f"/console/clusters/{cluster}/matrix?namespaces=team-b")
    assert page.status_code == 200, page.text
    matrix = parse(page.text)
    assert matrix.columns == ["team-a", "team-b"]
    assert matrix.cells[(role, "team-a")]["level"] == "edit" and not matrix.cells[(role, "team-a")]["inherited"]
    assert matrix.cells[(role, "")]["level"] == "view"
    assert matrix.cells[(role, "team-b")] | {"href": None} == {"level": "view", "inherited": True, "href": None}
    assert matrix.cells[(groups_only, "")]["level"] == "custom"
    link = urlsplit(urljoin(page.url.path, matrix.cells[(role, "team-a")]["href"]))
    assert link.path == f"/console/clusters/{cluster}/explain"
    assert parse_qs(link.query) == {"principalArn": [role], "namespace": ["team-a"], "verb": ["get"],
                                    "resource": ["pods"]}
    assert "namespace" not in parse_qs(urlsplit(matrix.cells[(role, "")]["href"]).query)
    assert client.get(matrix.cells[(role, "team-a")]["href"]).status_code == 200  # the explain page answers it
    assert 'scope="col"' in page.text and 'scope="row"' in page.text and "(inherited)" in page.text

    filtered = parse(client.get(f"/console/clusters/{cluster}/matrix?principal={groups_only.rsplit('/', 1)[1]}").text)
    assert {principal for principal, _ in filtered.cells} == {groups_only}
    junk = client.get(f"/console/clusters/{cluster}/matrix?namespaces=<b>x</b>,team-*&page=zz&ns_page=-3")
    assert junk.status_code == 200 and "<b>x</b>" not in junk.text
    assert "Ignored" in (alert(junk.text) or "")


def test_paging_shows_each_principal_once(server: Server, client: ConsoleClient) -> None:
    from kubegate.console.matrix import PAGE_SIZE

    cluster = unique("mx-pages")
    eks = make_cluster(server, cluster)
    principals = [f"arn:aws:iam::210987654321:role/p{i:03d}" for i in range(PAGE_SIZE + 3)]
    for arn in principals:
        eks.create_access_entry(clusterName=cluster, principalArn=arn, kubernetesGroups=["g"])
    assert client.sign_in().status_code == 303
    seen: list[str] = []
    for number in (1, 2):
        page = client.get(f"/console/clusters/{cluster}/matrix?page={number}")
        seen += sorted({principal for principal, _ in parse(page.text).cells})
        assert f"page {number} of 2" in page.text
    assert seen == principals


def test_limited_principal_sees_only_what_it_may_read(server: Server, client: ConsoleClient) -> None:
    cluster = unique("mx-lim")
    eks = make_cluster(server, cluster)
    readable, hidden = ensure_role(server, unique("mx-open")), ensure_role(server, unique("mx-secret"))
    entry_arns = {}
    for role in (readable, hidden):
        entry_arns[role] = eks.create_access_entry(clusterName=cluster, principalArn=role)["accessEntry"]["accessEntryArn"]
        eks.associate_access_policy(clusterName=cluster, principalArn=role, policyArn=EDIT,
                                    accessScope={"type": "namespace", "namespaces": ["team-a"]})
    cluster_arn = eks.describe_cluster(name=cluster)["cluster"]["arn"]
    iam, user = server.client("iam"), unique("mx-user")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    login = ConsoleClient(server)
    try:
        assert login.sign_in((key["AccessKeyId"], key["SecretAccessKey"])).status_code == 303
        refused = login.get(f"/console/clusters/{cluster}/matrix")
        assert refused.status_code == 403
        assert "eks:ListAccessEntries" in (alert(refused.text) or "")
        assert hidden not in refused.text

        iam.put_user_policy(UserName=user, PolicyName="matrix", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "eks:ListAccessEntries", "Resource": cluster_arn},
                {"Effect": "Allow", "Action": ["eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies"],
                 "Resource": entry_arns[readable]}]}))
        page = login.get(f"/console/clusters/{cluster}/matrix")
        assert page.status_code == 200, page.text
        matrix = parse(page.text)
        assert {principal for principal, _ in matrix.cells} == {readable}
        assert matrix.cells[(readable, "team-a")]["level"] == "edit"
        assert hidden not in page.text
        assert 'id="withheld"><strong>1</strong> principal on this page' in page.text
    finally:
        login.close()
    missing = client
    assert missing.sign_in().status_code == 303
    gone = missing.get(f"/console/clusters/{unique('mx-none')}/matrix")
    assert gone.status_code == 404 and "No cluster found" in (alert(gone.text) or "")
