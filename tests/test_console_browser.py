"""The web console in a real browser (Debian's Chromium, headless, via Playwright), as a person uses it.

A kubegate of this module's own, so its audit log and names are predictable. The administrator
signs in with the form, creates an access entry, associates a namespace-scoped policy, finds it
in the matrix, has it explained, finds the webhook's decision in the audit log, and upgrades the
cluster's mode after reading who would lose access. Then a principal whose IAM policy allows only
``eks:Describe*`` and ``eks:List*`` walks the same pages: the buttons are disabled and name the
missing action, and a forced post gets the API's AccessDenied message.

Locators are the accessible ones (labels, roles and names), so the pages' labels are tested too.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from browser import (browser, csrf_token, focused, has_focus_ring, in_viewport, new_context, sign_in,  # noqa: F401
                     tab_to, until_console_shows)
from conftest import BIN, Server, trust_policy
from kubegate.console.sessions import COOKIE

CLUSTER = "shop"
NAMESPACE = "team-a"
READ_ONLY = ["eks:Describe*", "eks:List*"]


@pytest.fixture(scope="module")
def kg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    instance = Server(tmp_path_factory.mktemp("console-browser") / "data")
    instance.start()
    yield instance
    if instance.process is not None:
        instance.stop()


def user_with_key(server: Server, name: str, actions: list[str] | None = None) -> dict[str, str]:
    iam = server.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if actions:
        iam.put_user_policy(UserName=name, PolicyName="console", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"arn": arn, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def world(kg: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A cluster in API_AND_CONFIG_MAP with an aws-auth row (made through the API and the CLI, not the
    browser), the role the browser gives access to, the user who assumes it, and a read-only user."""
    iam = kg.client("iam")
    alice = user_with_key(kg, "alice")
    developer = iam.create_role(RoleName="shop-developer", AssumeRolePolicyDocument=trust_policy(alice["arn"]))["Role"]
    legacy = iam.create_role(RoleName="legacy-ops", AssumeRolePolicyDocument=trust_policy(kg.account()))["Role"]
    eks_role = iam.create_role(RoleName="eks-cluster", AssumeRolePolicyDocument=trust_policy(kg.account()))["Role"]
    kg.client("eks").create_cluster(name=CLUSTER, roleArn=eks_role["Arn"], resourcesVpcConfig={"subnetIds": ["s"]},
                                    accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    manifest = tmp_path_factory.mktemp("aws-auth") / "aws-auth.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\ndata:\n"
        f"  mapRoles: |\n    - rolearn: {legacy['Arn']}\n      username: legacy-ops\n      groups:\n"
        "        - system:masters\n")
    subprocess.run([str(BIN / "kubegate"), "awsauth", "set", "--data-dir", str(kg.data_dir), "--cluster", CLUSTER,
                    "-f", str(manifest)], check=True, capture_output=True)
    until_console_shows(kg, f"/console/clusters/{CLUSTER}", legacy["Arn"])
    return {"alice": alice, "developer": developer["Arn"], "legacy": legacy["Arn"],
            "viewer": user_with_key(kg, "viewer", READ_ONLY)}


@pytest.fixture(scope="module")
def admin_tab(browser: Browser, kg: Server, world: dict[str, Any]) -> Iterator[Page]:
    """The administrator's tab, signed in by the first test and used by the tests after it, in order."""
    context = new_context(browser, kg)
    yield context.new_page()
    context.close()


def signed_in(page: Page) -> bool:
    return any(cookie["name"] == COOKIE for cookie in page.context.cookies())


@pytest.fixture
def admin(request: pytest.FixtureRequest, admin_tab: Page) -> Page:
    if request.node.name != "test_sign_in_with_the_keyboard" and not signed_in(admin_tab):
        pytest.fail("the administrator is not signed in: see test_sign_in_with_the_keyboard", pytrace=False)
    return admin_tab


def cluster_url(*parts: str) -> str:
    return "/".join([f"/console/clusters/{CLUSTER}", *parts])


# --- 1. sign in --------------------------------------------------------------------------------


def test_sign_in_with_the_keyboard(admin: Page, kg: Server) -> None:
    access_key, secret = kg.credentials()
    admin.goto("/console/clusters")
    expect(admin).to_have_url(re.compile(r"/console/login\?next="))
    expect(admin.get_by_role("heading", name="Sign in")).to_be_visible()

    admin.get_by_label("Access key ID").fill(access_key)
    admin.get_by_label("Secret access key").fill("not-the-secret")
    admin.get_by_role("button", name="Sign in").click()
    expect(admin.get_by_role("alert")).to_contain_text("not valid")

    # Only the keyboard: the key field has the focus; Tab to the secret, Enter submits.
    key_field = admin.get_by_label("Access key ID")
    key_field.focus()
    admin.keyboard.press("Control+A")
    admin.keyboard.type(access_key)
    admin.keyboard.press("Tab")
    expect(admin.get_by_label("Secret access key")).to_be_focused()
    assert in_viewport(admin, focused(admin)) and has_focus_ring(focused(admin))
    admin.keyboard.type(secret)
    admin.keyboard.press("Enter")

    expect(admin).to_have_url(re.compile(r"/console/clusters$"))
    expect(admin.get_by_role("heading", name="Clusters", exact=True)).to_be_visible()
    cookie = next(c for c in admin.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert admin.evaluate("document.cookie") == ""  # nothing script-readable


def test_one_time_link_signs_in_with_its_button(browser: Browser, kg: Server) -> None:
    url = subprocess.run([str(BIN / "kubegate"), "console-login", "--data-dir", str(kg.data_dir)],
                         check=True, capture_output=True, text=True).stdout.strip()
    context = new_context(browser, kg)
    try:
        page = context.new_page()
        page.goto(url[url.index("/console/link"):])
        expect(page.get_by_role("heading", name=re.compile("bootstrap administrator"))).to_be_visible()
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/console/clusters$"))
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        page.go_back()  # the link's page again: its button now refuses
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("used already")
    finally:
        context.close()


# --- 2, 3. an entry and a namespace-scoped policy ----------------------------------------------


def test_create_an_access_entry(admin: Page, world: dict[str, Any]) -> None:
    row = admin.get_by_role("row").filter(has=admin.get_by_role("link", name=CLUSTER, exact=True))
    expect(row).to_contain_text("API_AND_CONFIG_MAP")
    row.get_by_role("link", name=CLUSTER, exact=True).click()
    expect(admin.get_by_role("heading", name=f"Cluster {CLUSTER}")).to_be_visible()
    expect(admin.get_by_role("table", name=re.compile("aws-auth rows"))).to_contain_text(world["legacy"])

    admin.get_by_label("Principal ARN").fill(world["developer"])
    admin.get_by_label("Kubernetes groups").fill("shop-devs")
    admin.get_by_role("button", name="Create access entry").click()

    expect(admin.get_by_role("status")).to_contain_text(f"Created the access entry for {world['developer']}")
    expect(admin.get_by_role("heading", name="Access entry", exact=True)).to_be_visible()


def test_a_bad_entry_shows_the_api_message_next_to_the_form(admin: Page, world: dict[str, Any]) -> None:
    admin.goto(cluster_url())
    admin.get_by_label("Principal ARN").fill(world["alice"]["arn"])
    admin.get_by_label("Kubernetes groups").fill("system:masters")
    admin.get_by_role("button", name="Create access entry").click()
    expect(admin.get_by_role("alert")).to_contain_text("InvalidParameterException")
    expect(admin.get_by_label("Kubernetes groups")).to_have_value("system:masters")  # the input is kept


def test_associate_a_namespace_scoped_policy_with_the_keyboard(admin: Page, world: dict[str, Any]) -> None:
    admin.goto(cluster_url())
    admin.get_by_role("link", name=world["developer"]).click()
    admin.get_by_label("Access policy", exact=True).select_option(label="AmazonEKSViewPolicy")
    admin.get_by_label("Scope", exact=True).select_option("namespace")
    admin.get_by_label("Namespaces").fill(NAMESPACE)

    button = admin.get_by_role("button", name="Associate policy")
    tab_to(admin, button)
    expect(button).to_be_focused()
    button.scroll_into_view_if_needed()
    assert in_viewport(admin, button) and has_focus_ring(button)
    admin.keyboard.press("Enter")

    expect(admin.get_by_role("status")).to_contain_text("Associated AmazonEKSViewPolicy")
    expect(admin.locator(".policy-chip").filter(has_text="AmazonEKSViewPolicy")).to_contain_text(NAMESPACE)


def test_the_cluster_page_shows_the_entry_and_its_scope(admin: Page, world: dict[str, Any]) -> None:
    admin.goto(cluster_url())
    row = admin.get_by_role("row").filter(has=admin.get_by_role("link", name=world["developer"]))
    expect(row).to_contain_text("STANDARD")
    expect(row).to_contain_text("shop-devs")
    expect(row).to_contain_text(f"AmazonEKSViewPolicy: {NAMESPACE}")
    expect(row.get_by_role("button", name=re.compile("Disassociate AmazonEKSViewPolicy"))).to_be_enabled()


# --- 4, 5. the matrix, and explain -------------------------------------------------------------


def test_matrix_cell_says_view_and_explains_itself(admin: Page, world: dict[str, Any]) -> None:
    admin.goto(cluster_url("matrix"))
    expect(admin.get_by_role("heading", name=re.compile("Access matrix"))).to_be_visible()
    table = admin.get_by_role("table", name=re.compile("Access-policy level"))
    columns = [text.strip() for text in table.get_by_role("columnheader").all_inner_texts()]
    row = table.get_by_role("row").filter(has=admin.get_by_role("rowheader", name=world["developer"]))
    cells = row.get_by_role("cell")  # the row header is not a cell: cells start at the cluster column
    cell = cells.nth(columns.index(NAMESPACE) - 1)
    expect(cell).to_have_text("view")
    # No policy at cluster scope; its Kubernetes groups are RBAC's to decide, which the matrix calls custom.
    expect(cells.nth(columns.index("cluster") - 1)).to_have_text("custom")
    cell.get_by_role("link").click()

    expect(admin).to_have_url(re.compile(r"/explain\?"))
    expect(admin.get_by_label("Principal ARN")).to_have_value(world["developer"])
    expect(admin.get_by_label("Namespace", exact=False).first).to_have_value(NAMESPACE)
    expect(admin.locator(".decision")).to_be_visible()
    expect(admin.locator("ol.chain li").first).to_be_visible()


def test_explain_why_delete_is_denied_and_get_allowed(admin: Page, world: dict[str, Any]) -> None:
    admin.goto(cluster_url("explain"))
    form = admin.locator("form.insight-form")
    form.get_by_label("Principal ARN").fill(world["developer"])
    form.get_by_label("Verb").fill("delete")
    form.get_by_label("Resource", exact=False).first.fill("pods")
    form.get_by_label("Namespace").fill(NAMESPACE)
    form.get_by_role("button", name="Explain").click()
    expect(admin.locator(".decision")).to_contain_text("Denied")
    chain = admin.locator("ol.chain li")
    expect(chain.first).to_be_visible()
    assert chain.count() >= 1
    expect(admin.locator("ol.chain")).to_contain_text("AmazonEKSViewPolicy")

    form.get_by_label("Verb").fill("get")
    form.get_by_role("button", name="Explain").click()
    expect(admin.locator(".decision")).to_contain_text("Allowed")
    expect(admin.locator("ol.chain")).to_contain_text(NAMESPACE)


# --- 6. the audit log --------------------------------------------------------------------------


def apiserver_asks(kg: Server, world: dict[str, Any], verb: str) -> None:
    """A kube-apiserver's TokenReview then SubjectAccessReview for alice in the developer role (audited)."""
    from test_authz_webhook import review, sar
    from test_token_webhook import Apiserver, assume, token_for

    with tempfile.TemporaryDirectory() as out:
        apiserver = Apiserver(kg, CLUSTER, Path(out))
        apiserver.authz_url = apiserver.url.replace("/authenticate", "/authorize")
        alice = world["alice"]
        session = assume(kg, (alice["key"], alice["secret"]), world["developer"], "alice")
        status = apiserver.status(token_for(kg, session, CLUSTER))
        assert status["authenticated"] is True, status
        answer = review(apiserver, sar(status["user"], {"namespace": NAMESPACE, "verb": verb, "version": "v1",
                                                        "resource": "pods"}))
        assert answer["allowed"] is (verb == "get")


def test_the_audit_log_shows_the_webhooks_decision(admin: Page, kg: Server, world: dict[str, Any]) -> None:
    apiserver_asks(kg, world, "get")
    admin.goto("/console/clusters")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    admin.get_by_label("Cluster").fill(CLUSTER)
    admin.get_by_label("Decision").select_option("allowed")
    admin.get_by_role("button", name="Filter").click()
    rows = admin.locator("table.audit tbody tr")
    expect(rows.first).to_contain_text("shop-developer")
    expect(rows.first).to_contain_text("allowed")
    expect(rows.first).to_contain_text(NAMESPACE)


# --- 7. the mode upgrade -----------------------------------------------------------------------


def test_mode_upgrade_shows_who_loses_access_then_switches(admin: Page, world: dict[str, Any]) -> None:
    admin.goto(cluster_url())
    admin.get_by_role("button", name="Upgrade to API…").click()
    expect(admin).to_have_url(re.compile(r"/mode\?to=API"))
    expect(admin.get_by_role("heading", name=re.compile("from API_AND_CONFIG_MAP to API"))).to_be_visible()
    expect(admin.locator(".warning")).to_contain_text("1 principal would lose access")
    losing = admin.get_by_role("row").filter(has_text="legacy-ops")
    expect(losing).to_have_class(re.compile("loses"))
    expect(admin.get_by_role("row").filter(has_text="shop-developer")).to_have_count(0)  # keeps its entry

    admin.get_by_role("button", name=f"Switch {CLUSTER} to API").click()
    expect(admin.get_by_role("status")).to_contain_text("Authentication mode set to API")
    expect(admin.get_by_role("region", name="Authentication mode").locator(".chip.mode")).to_have_text("API")


# --- the same flow as a principal allowed only eks:Describe* and eks:List* ---------------------


@pytest.fixture(scope="module")
def viewer(browser: Browser, kg: Server, world: dict[str, Any]) -> Iterator[Page]:
    context: BrowserContext = new_context(browser, kg)
    page = context.new_page()
    sign_in(page, (world["viewer"]["key"], world["viewer"]["secret"]))
    if not signed_in(page):
        pytest.fail(f"the read-only user could not sign in: {page.locator('main').inner_text()}", pytrace=False)
    yield page
    context.close()


def test_limited_principal_sees_disabled_actions(viewer: Page, world: dict[str, Any]) -> None:
    expect(viewer).to_have_url(re.compile(r"/console/clusters$"))
    expect(viewer.get_by_text(world["viewer"]["arn"], exact=True)).to_be_visible()
    viewer.get_by_role("link", name=CLUSTER, exact=True).click()
    expect(viewer.get_by_role("row").filter(has=viewer.get_by_role("link", name=world["developer"]))) \
        .to_contain_text(f"AmazonEKSViewPolicy: {NAMESPACE}")
    expect(viewer.get_by_role("button", name="Create access entry")).to_be_disabled()
    expect(viewer.get_by_text("needs eks:CreateAccessEntry")).to_be_visible()

    viewer.get_by_role("link", name=world["developer"]).click()
    expect(viewer.get_by_role("button", name="Associate policy")).to_be_disabled()
    expect(viewer.get_by_text("needs eks:AssociateAccessPolicy")).to_be_visible()
    expect(viewer.get_by_role("button", name="Delete access entry")).to_be_disabled()
    expect(viewer.get_by_text("needs eks:DeleteAccessEntry")).to_be_visible()


def test_limited_principal_forcing_a_post_gets_access_denied(viewer: Page, kg: Server, world: dict[str, Any]) -> None:
    viewer.goto(cluster_url())
    answer = viewer.request.post(cluster_url("entries"), headers={"Origin": kg.endpoint}, form={
        "csrf": csrf_token(viewer), "principalArn": world["legacy"], "type": "STANDARD"})
    assert answer.status == 403
    text = answer.text()
    assert "AccessDenied" in text and "eks:CreateAccessEntry" in text
    assert world["viewer"]["arn"] in text  # the API's own message names the caller
    viewer.goto(cluster_url())
    expect(viewer.get_by_role("link", name=world["legacy"])).to_have_count(0)  # nothing was created


def test_limited_principal_audit_page_says_access_denied(viewer: Page) -> None:
    viewer.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(viewer.get_by_role("alert")).to_contain_text("AccessDenied")
