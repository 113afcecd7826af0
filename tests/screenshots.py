"""`make screenshots`: every console page as a PNG under docs/screenshots/, from a small realistic example.

Starts a private kubegate on a temporary data dir, seeds it through the APIs and the CLI (clusters
in each authentication mode, roles with scoped access policies, an aws-auth with a duplicate row,
audit lines written by the webhooks as a kube-apiserver would call them), signs in with Debian's
Chromium and saves each page full-length at a 1280×800 window. Run from the repository root:

    .venv/bin/python tests/screenshots.py docs/screenshots
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from browser import launch, new_context, sign_in, until_console_shows  # noqa: E402
from conftest import BIN, Server, trust_policy  # noqa: E402

POLICY = "arn:aws:eks::aws:cluster-access-policy/"
PROD, ANALYTICS, LEGACY = "payments-prod", "analytics", "legacy-batch"


def seed(server: Server, scratch: Path) -> dict[str, Any]:
    """The example: three clusters, five roles, scoped policies, an aws-auth, and audit lines."""
    iam, eks = server.client("iam"), server.client("eks")
    account = server.account()
    alice = iam.create_user(UserName="alice")["User"]
    alice_key = iam.create_access_key(UserName="alice")["AccessKey"]
    iam.create_user(UserName="bob")
    iam.put_user_policy(UserName="bob", PolicyName="read-clusters", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["eks:Describe*", "eks:List*"], "Resource": "*"}]}))

    def role(name: str, description: str, trusted: str | None = None) -> str:
        return str(iam.create_role(RoleName=name, Description=description,
                                   AssumeRolePolicyDocument=trust_policy(trusted or account))["Role"]["Arn"])

    cluster_role = role("eks-cluster", "Assumed by the EKS control plane")
    admins = role("platform-admins", "Platform team: full access to every cluster")
    developers = role("payments-developers", "Payments engineers", trusted=alice["Arn"])
    oncall = role("sre-oncall", "On-call SREs: read everywhere, admin in monitoring")
    deployer = role("ci-deployer", "CI pipelines that deploy the payments services")
    nodes = role("payments-nodes", "EC2 worker nodes")
    legacy_ops = role("legacy-ops", "Old operations role, still mapped by aws-auth")

    for name, mode in ((PROD, "API_AND_CONFIG_MAP"), (ANALYTICS, "API"), (LEGACY, "CONFIG_MAP")):
        eks.create_cluster(name=name, roleArn=cluster_role, resourcesVpcConfig={"subnetIds": ["subnet-1"]},
                           accessConfig={"authenticationMode": mode})

    def entry(cluster: str, principal: str, groups: list[str] | None = None, kind: str = "STANDARD",
              policies: tuple[tuple[str, list[str] | None], ...] = ()) -> None:
        eks.create_access_entry(clusterName=cluster, principalArn=principal, type=kind,
                                **({"kubernetesGroups": groups} if groups else {}))
        for policy, namespaces in policies:
            scope = {"type": "namespace", "namespaces": namespaces} if namespaces else {"type": "cluster"}
            eks.associate_access_policy(clusterName=cluster, principalArn=principal, policyArn=POLICY + policy,
                                        accessScope=scope)

    entry(PROD, admins, policies=(("AmazonEKSClusterAdminPolicy", None),))
    entry(PROD, developers, groups=["payments-devs"], policies=(
        ("AmazonEKSEditPolicy", ["payments", "payments-staging"]), ("AmazonEKSViewPolicy", ["checkout"])))
    entry(PROD, oncall, policies=(("AmazonEKSViewPolicy", None), ("AmazonEKSAdminPolicy", ["monitoring"])))
    entry(PROD, deployer, groups=["deployers"], policies=(("AmazonEKSEditPolicy", ["payments", "checkout"]),))
    entry(PROD, nodes, kind="EC2_LINUX")
    entry(ANALYTICS, admins, policies=(("AmazonEKSClusterAdminPolicy", None),))
    entry(ANALYTICS, oncall, policies=(("AmazonEKSViewPolicy", None),))

    manifest = scratch / "aws-auth.yaml"
    manifest.write_text(f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: aws-auth
  namespace: kube-system
data:
  mapRoles: |
    - rolearn: {legacy_ops}
      username: legacy-ops
      groups:
        - system:masters
    - rolearn: {oncall}
      username: oncall:{{{{SessionName}}}}
      groups:
        - view-only
    - rolearn: {oncall}
      username: sre:{{{{SessionName}}}}
      groups:
        - sre
  mapUsers: |
    - userarn: arn:aws:iam::{account}:user/bob
      username: bob
      groups:
        - auditors
""")
    for cluster in (PROD, LEGACY):
        subprocess.run([str(BIN / "kubegate"), "awsauth", "set", "--data-dir", str(server.data_dir),
                        "--cluster", cluster, "-f", str(manifest)], check=True, capture_output=True)
        until_console_shows(server, f"/console/clusters/{cluster}", legacy_ops)

    audit_lines(server, scratch, (alice_key["AccessKeyId"], alice_key["SecretAccessKey"]), developers)
    return {"developers": developers, "admins": admins}


def audit_lines(server: Server, scratch: Path, alice: tuple[str, str], developers: str) -> None:
    """TokenReviews and SubjectAccessReviews as PROD's kube-apiserver would post them (the webhooks audit them)."""
    from test_authz_webhook import review, sar
    from test_token_webhook import Apiserver, assume, token_for

    apiserver = Apiserver(server, PROD, scratch / "webhook")
    apiserver.authz_url = apiserver.url.replace("/authenticate", "/authorize")
    status = apiserver.status(token_for(server, assume(server, alice, developers, "alice"), PROD))
    user = status["user"]
    for verb, resource, namespace, group in (
            ("get", "pods", "payments", ""), ("create", "deployments", "payments", "apps"),
            ("list", "secrets", "kube-system", ""), ("delete", "pods", "checkout", ""),
            ("patch", "deployments", "payments-staging", "apps"), ("get", "configmaps", "checkout", "")):
        review(apiserver, sar(user, {"namespace": namespace, "verb": verb, "group": group, "version": "v1",
                                     "resource": resource}))
    apiserver.status("k8s-aws-v1.not-a-token")  # an unauthenticated line


PAGES = (
    # (file name, path, what to wait for)
    ("clusters", "/console/clusters", "h1"),
    ("cluster", f"/console/clusters/{PROD}", "h1"),
    ("entry", None, "h1"),
    ("mode-preview", f"/console/clusters/{PROD}/mode?to=API", "h1"),
    ("matrix", f"/console/clusters/{PROD}/matrix", "table.matrix"),
    ("explain", None, ".decision"),
    ("who-can", f"/console/clusters/{PROD}/who-can?verb=delete&resource=pods&namespace=payments", "h1"),
    ("audit", "/console/audit", "h1"),
    ("iam", "/console/iam", "h1"),
)


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"{out / f'{name}.png'}")


def main(out: Path) -> None:
    from urllib.parse import urlencode

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        server = Server(scratch / "data")
        server.start()
        try:
            names = seed(server, scratch)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                context = new_context(browser, server)
                page = context.new_page()
                page.goto("/console/login")
                shoot(page, out, "login")
                sign_in(page, server.credentials())
                explain = urlencode({"principalArn": names["developers"], "session": "alice", "verb": "delete",
                                     "resource": "pods", "namespace": "checkout"})
                entry = urlencode({"principalArn": names["developers"]})
                for name, path, ready in PAGES:
                    if name == "explain":
                        path = f"/console/clusters/{PROD}/explain?{explain}"
                    elif name == "entry":
                        path = f"/console/clusters/{PROD}/entry?{entry}"
                    assert path is not None
                    response = page.goto(path)
                    if response is None or response.status != 200:
                        print(f"warning: {path} answered {response.status if response else 'nothing'}", file=sys.stderr)
                    page.locator(ready).first.wait_for()
                    shoot(page, out, name)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
