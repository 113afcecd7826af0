"""The console's cluster pages over HTTP: the list, a cluster's entries, aws-auth rows, the forms and the mode upgrade.

Driven as a browser drives them (tests/console_client.py) against the session's real
`kubegate up`; the EKS API, read with boto3, is the judge of what a form changed.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, Server, ensure_role, eventually
from console_client import ConsoleClient, alert

VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[ConsoleClient]:
    client = ConsoleClient(server)
    assert client.sign_in().status_code == 303
    yield client
    client.close()


def new_cluster(server: Server, mode: str = "API_AND_CONFIG_MAP") -> str:
    name = unique("cc")
    server.client("eks").create_cluster(name=name, roleArn=ensure_role(server, "eks"),
                                        resourcesVpcConfig={"subnetIds": ["s"]},
                                        accessConfig={"authenticationMode": mode})
    return name


def set_aws_auth(server: Server, cluster: str, tmp_path: Path, map_roles: list[dict[str, Any]]) -> None:
    path = tmp_path / f"{cluster}-aws-auth.yaml"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                                "data": {"mapRoles": json.dumps(map_roles)}}))
    subprocess.run([str(BIN / "kubegate"), "awsauth", "set", "--data-dir", str(server.data_dir), "--cluster", cluster,
                    "-f", str(path)], check=True, capture_output=True)


def role_arn(server: Server, name: str) -> str:
    return f"arn:aws:iam::{server.account()}:role/{name}"


def entry_arns(server: Server, cluster: str) -> list[str]:
    return list(server.client("eks").list_access_entries(clusterName=cluster)["accessEntries"])


def row_of(page: str, first_cell: str) -> str:
    """The <tr> whose header cell holds ``first_cell``."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        if first_cell in row:
            return row
    raise AssertionError(f"no row for {first_cell}")


def cells(row: str) -> list[str]:
    """Each cell's text, tags dropped and entities decoded."""
    found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell))).strip() for cell in found]


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_a_new_cluster_with_its_mode_and_counts(server: Server, admin: ConsoleClient,
                                                               tmp_path: Path) -> None:
    name = new_cluster(server)
    set_aws_auth(server, name, tmp_path, [
        {"rolearn": role_arn(server, "cc-a"), "username": "a", "groups": ["ga"]},
        {"rolearn": role_arn(server, "cc-b"), "username": "b", "groups": ["gb"]},
    ])
    server.client("eks").create_access_entry(clusterName=name, principalArn=ensure_role(server, "cc-list"))

    def counts() -> list[str] | None:
        found = cells(row_of(admin.get("/console/clusters").text, f">{name}<"))
        return found if found[3] == "2" else None  # the snapshot picks aws-auth up within its sync

    found = eventually(counts)
    assert found, cells(row_of(admin.get("/console/clusters").text, f">{name}<"))
    # cluster, mode, entries (the creator's and ours), aws-auth rows, OIDC configs
    assert found == [name, "API_AND_CONFIG_MAP", "2", "2", "0"]
    assert f'href="/console/clusters/{name}"' in admin.get("/console/clusters").text


# --- entries and policies ---------------------------------------------------------------------


def test_create_associate_edit_and_delete_an_entry(server: Server, admin: ConsoleClient) -> None:
    name = new_cluster(server)
    principal = ensure_role(server, "cc-team-a")
    created = admin.post(f"/console/clusters/{name}/entries", {
        "principalArn": principal, "type": "STANDARD", "username": "team-a-user", "groups": "team-a, deployers"})
    assert created.status_code == 303, alert(created.text)
    page = admin.get(f"/console/clusters/{name}").text
    row = cells(row_of(page, principal))
    assert row[:3] == [principal, "STANDARD", "team-a-user"]
    assert "team-a" in row[3] and "deployers" in row[3]

    associated = admin.post(f"/console/clusters/{name}/entry/associate", {
        "principalArn": principal, "policyArn": VIEW, "scope": "namespace", "namespaces": "team-a, team-b"})
    assert associated.status_code == 303, alert(associated.text)
    assert "AmazonEKSViewPolicy: team-a, team-b" in row_of(admin.get(f"/console/clusters/{name}").text, principal)

    edited = admin.post(f"/console/clusters/{name}/entry/update", {
        "principalArn": principal, "username": "renamed", "groups": "readers"})
    assert edited.status_code == 303, alert(edited.text)
    entry = server.client("eks").describe_access_entry(clusterName=name, principalArn=principal)["accessEntry"]
    assert (entry["username"], entry["kubernetesGroups"]) == ("renamed", ["readers"])

    removed = admin.post(f"/console/clusters/{name}/entry/disassociate", {
        "principalArn": principal, "policyArn": VIEW, "back": "cluster"})
    assert removed.status_code == 303, alert(removed.text)
    assert "AmazonEKSViewPolicy" not in row_of(admin.get(f"/console/clusters/{name}").text, principal)

    unconfirmed = admin.post(f"/console/clusters/{name}/entry/delete", {"principalArn": principal})
    assert unconfirmed.status_code == 400 and "confirm" in (alert(unconfirmed.text) or "")
    assert principal in entry_arns(server, name)
    deleted = admin.post(f"/console/clusters/{name}/entry/delete", {"principalArn": principal, "confirm": "yes"})
    assert deleted.status_code == 303, alert(deleted.text)
    assert principal not in entry_arns(server, name)
    assert html.escape(f"Deleted the access entry for {principal}.") in admin.get(deleted.headers["location"]).text


def test_an_invalid_group_shows_eks_message_and_keeps_the_input(server: Server, admin: ConsoleClient) -> None:
    name = new_cluster(server)
    principal = ensure_role(server, "cc-masters")
    answer = admin.post(f"/console/clusters/{name}/entries", {
        "principalArn": principal, "type": "STANDARD", "username": "boss", "groups": "system:masters"})
    assert answer.status_code == 400
    assert alert(answer.text) == ("The kubernetes group name system:masters is invalid, it cannot start with "
                                  "system: (InvalidParameterException)")
    assert f'value="{principal}"' in answer.text and 'value="system:masters"' in answer.text
    assert principal not in entry_arns(server, name)


def test_html_in_a_username_is_shown_escaped(server: Server, admin: ConsoleClient) -> None:
    name = new_cluster(server)
    principal = ensure_role(server, "cc-html")
    server.client("eks").create_access_entry(clusterName=name, principalArn=principal, username="<b>x</b>")
    for path in (f"/console/clusters/{name}", f"/console/clusters/{name}/entry?principalArn={principal}"):
        page = admin.get(path).text
        assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_a_limited_user_sees_disabled_forms_and_is_refused(server: Server, admin: ConsoleClient) -> None:
    name = new_cluster(server)
    iam = server.client("iam")
    user = unique("cc-reader")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["eks:Describe*", "eks:List*"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    reader = ConsoleClient(server)
    try:
        assert reader.sign_in((key["AccessKeyId"], key["SecretAccessKey"])).status_code == 303
        page = reader.get(f"/console/clusters/{name}").text
        create = page[page.index('action="/console/clusters/' + name + '/entries"'):]
        create = create[:create.index("</form>")]
        assert re.search(r"<fieldset[^>]*disabled", create)
        assert "needs eks:CreateAccessEntry" in create
        assert "needs eks:UpdateClusterConfig" in page
        assert "kubegate:DescribeIdentityMappings" in page  # the aws-auth rows are withheld, and why

        principal = ensure_role(server, "cc-forced")
        forced = reader.post(f"/console/clusters/{name}/entries", {"principalArn": principal, "type": "STANDARD"})
        assert forced.status_code == 403
        message = alert(forced.text) or ""
        assert "not authorized to perform: eks:CreateAccessEntry" in message and "AccessDeniedException" in message
        assert principal not in entry_arns(server, name)
    finally:
        reader.close()


# --- aws-auth rows ----------------------------------------------------------------------------


def test_aws_auth_rows_mark_the_ones_a_later_duplicate_overrides(server: Server, admin: ConsoleClient,
                                                                 tmp_path: Path) -> None:
    name = new_cluster(server, "CONFIG_MAP")
    ci = role_arn(server, "cc-ci")
    set_aws_auth(server, name, tmp_path, [
        {"rolearn": ci, "username": "ci-old", "groups": ["old"]},
        {"rolearn": role_arn(server, "cc-other"), "username": "other", "groups": ["x"]},
        {"rolearn": ci, "username": "ci", "groups": ["deployers"]},
    ])
    page = admin.get(f"/console/clusters/{name}").text
    assert cells(row_of(page, "ci-old")) == ["1", "mapRoles", ci, "ci-old", "old", "ignored: row 3 wins"]
    assert cells(row_of(page, "deployers"))[-1] == "used"
    assert cells(row_of(page, ">other<"))[-1] == "used"
    assert "CONFIG_MAP: it has no access entries" in page  # no entry forms in CONFIG_MAP
    assert 'action="/console/clusters/' + name + '/entries"' not in page


# --- the mode upgrade -------------------------------------------------------------------------


def test_the_mode_preview_names_who_loses_access_and_confirming_switches(server: Server, admin: ConsoleClient,
                                                                         tmp_path: Path) -> None:
    name = new_cluster(server)
    legacy = ensure_role(server, "cc-legacy")
    set_aws_auth(server, name, tmp_path, [{"rolearn": legacy, "username": "legacy", "groups": ["ops"]}])
    eks = server.client("eks")

    cluster_page = admin.get(f"/console/clusters/{name}").text
    assert f'action="/console/clusters/{name}/mode"' in cluster_page and 'value="API"' in cluster_page

    preview = admin.get(f"/console/clusters/{name}/mode", params={"to": "API"})
    assert preview.status_code == 200
    losing = cells(row_of(preview.text, f"role {legacy}"))
    assert losing[1].startswith("all access (user 'legacy', groups ['ops']")
    assert "1 principal would lose access" in preview.text
    assert eks.describe_cluster(name=name)["cluster"]["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"

    wrong = admin.get(f"/console/clusters/{name}/mode", params={"to": "CONFIG_MAP"})
    assert "can move only to API" in (alert(wrong.text) or "") and 'name="to"' not in wrong.text

    switched = admin.post(f"/console/clusters/{name}/mode", {"to": "API"})
    assert switched.status_code == 303, alert(switched.text)
    assert eks.describe_cluster(name=name)["cluster"]["accessConfig"]["authenticationMode"] == "API"
    after = admin.get(switched.headers["location"]).text
    assert "Authentication mode set to API" in after and "API is the last mode" in after
    warnings = [json.loads(line) for line in (server.data_dir / "audit.log").read_text().splitlines()
                if '"mode-switch-warning"' in line and f'"{name}"' in line]  # the API's guard saw the console's switch
    assert [w["losing"][0]["principal"] for w in warnings] == [f"role {legacy}"]

    again = admin.post(f"/console/clusters/{name}/mode", {"to": "API"})
    assert again.status_code == 400 and "Unsupported authentication mode update" in (alert(again.text) or "")


def test_entries_are_paged_with_next_and_previous(server: Server, admin: ConsoleClient) -> None:
    from kubegate.console.cluster_data import PAGE_SIZE

    name = new_cluster(server)  # the creator's entry, and PAGE_SIZE more of another account
    eks = server.client("eks")
    for i in range(PAGE_SIZE):
        eks.create_access_entry(clusterName=name, principalArn=f"arn:aws:iam::111122223333:role/page-{i:03d}")
    first = admin.get(f"/console/clusters/{name}").text
    assert first.count('<th scope="row"><a class="mono"') == PAGE_SIZE and 'rel="prev"' not in first
    following = re.search(r'rel="next" href="([^"]+)"', first)
    assert following and f"({PAGE_SIZE + 1})" in first and "Page 1 of 2" in first
    second = admin.get(html.unescape(following.group(1))).text
    assert second.count('<th scope="row"><a class="mono"') == 1 and 'rel="next"' not in second
    assert "Page 2 of 2" in second
    previous = re.search(r'rel="prev" href="([^"]+)"', second)
    assert previous and html.unescape(previous.group(1)) == f"/console/clusters/{name}"
