"""From aws-auth to access entries: the plan, access-diff, the migration, and what it keeps.

Driven as a user drives it: the AWS CLI's credentials and kubegate's CLI against a running
server, tokens from real STS sessions, and reviews posted as a kube-apiserver posts them.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, Server, trust_policy
from test_authz_webhook import review, sar
from test_token_webhook import Apiserver, assume, token_for, user_key

CLUSTER = "mg"
INSTANCE = "i-0fedcba9876543210"
NODE_DNS = "ip-10-0-0-7.ec2.internal"
CORPUS = [  # (namespace, verb, group, resource)
    ("dev", "get", "", "pods"), ("dev", "create", "apps", "deployments"), ("", "list", "", "nodes"),
    ("kube-system", "delete", "", "secrets"), ("", "get", "", "namespaces"), ("prod", "patch", "", "configmaps"),
]


def run(server: Server, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "kubegate"), *args], env=env or server.cli_env(), capture_output=True, text=True)


def plan_json(server: Server, cluster: str, target: str = "API", *extra: str) -> dict[str, Any]:
    result = run(server, "migrate-to-access-entry", "--cluster", cluster, "--target-authentication-mode", target,
                 "--json", *extra)
    assert result.returncode in (0, 1, 2), result.stderr
    return dict(json.loads(result.stdout))


class World:
    """The tricky aws-auth of the spec (§7), its principals in kubegate's IAM, and their sessions."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.account = server.account()
        iam = server.client("iam")
        self.key = user_key(server, "mg-operator")
        trust = trust_policy(self.key[2])
        self.roles = {}
        for name, path in (("mg-ci", "/"), ("mg-admin", "/team/"), ("mg-nodes", "/"), ("mg-win", "/"),
                           ("mg-fargate", "/"), ("mg-monitor", "/"), ("mg-templ", "/"), ("mg-pathy", "/team/"),
                           ("mg-viewer", "/")):
            self.roles[name] = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        self.users = {name: user_key(server, name) for name in ("mg-alice", "mg-bob")}
        a = self.account
        self.aws_auth = f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: aws-auth, namespace: kube-system}}
data:
  mapRoles: |
    - rolearn: arn:aws:iam::{a}:role/mg-ci
      username: ci-old
      groups: [old]
    - rolearn: arn:aws:iam::{a}:role/mg-admin
      username: admin
      groups: [system:masters, ops]
    - rolearn: arn:aws:iam::{a}:role/mg-nodes
      username: system:node:{{{{EC2PrivateDNSName}}}}
      groups: [system:bootstrappers, system:nodes]
    - rolearn: arn:aws:iam::{a}:role/mg-win
      username: system:node:{{{{EC2PrivateDNSName}}}}
      groups: [system:bootstrappers, system:nodes, eks:kube-proxy-windows]
    - rolearn: arn:aws:iam::{a}:role/mg-fargate
      username: system:node:{{{{SessionName}}}}
      groups: [system:bootstrappers, system:nodes, system:node-proxier]
    - rolearn: arn:aws:iam::{a}:role/mg-monitor
      username: "monitor:{{{{SessionName}}}}"
      groups: [viewers]
    - rolearn: arn:aws:iam::{a}:role/mg-templ
      username: "{{{{SessionName}}}}"
      groups: [templated]
    - rolearn: arn:aws:iam::{a}:role/team/mg-pathy
      username: pathy
      groups: [pathy]
    - rolearn: arn:aws:iam::{a}:role/AWSServiceRoleForMgThing
      username: slr
      groups: [slr]
    - rolearn: arn:aws:iam::{a}:role/mg-ci
      username: ci
      groups: [deployers]
  mapUsers: |
    - userarn: arn:aws:iam::{a}:user/mg-alice
      username: alice
      groups: [system:masters]
    - userarn: arn:aws:iam::{a}:user/mg-bob
      username: bob
      groups: [system:monitoring]
  mapAccounts: |
    - "444455556666"
"""

    def role_session(self, name: str, session: str = "alice") -> tuple[str, str, str]:
        return assume(self.server, self.key[:2], self.roles[name], session)


@pytest.fixture(scope="module")
def world(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Any:
    w = World(server)
    eks = server.client("eks")
    from conftest import ensure_role

    eks.create_cluster(name=CLUSTER, roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
    path = tmp_path_factory.mktemp("mg") / "aws-auth.yaml"
    path.write_text(w.aws_auth)
    subprocess.run([str(BIN / "kubegate"), "awsauth", "set", "--data-dir", str(server.data_dir), "--cluster", CLUSTER,
                    "-f", str(path)], check=True, capture_output=True)
    subprocess.run([str(BIN / "kubegate"), "nodes", "register", "--data-dir", str(server.data_dir), "--instance-id",
                    INSTANCE, "--private-dns-name", NODE_DNS], check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as out:
        w.apiserver = Apiserver(server, CLUSTER, Path(out))
        w.apiserver.authz_url = w.apiserver.url.replace("/authenticate", "/authorize")
        yield w
    eks.delete_cluster(name=CLUSTER)


def rows(plan: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    found = {}
    for row in plan["rows"]:
        entry = row["entry"]
        found[row["row"].split(" ", 1)[0]] = (
            row["action"], row["blocksApi"],
            None if entry is None else (entry["type"], entry["principalArn"].split(":", 5)[5], entry["username"],
                                        tuple(entry["kubernetesGroups"]),
                                        tuple(p.rsplit("/", 1)[-1] for p in entry["clusterPolicies"])))
    return found


def test_the_plan_of_the_tricky_aws_auth(server: Server, world: World) -> None:
    plan = plan_json(server, CLUSTER)["plan"]
    admin = ("AmazonEKSClusterAdminPolicy",)
    assert rows(plan) == {
        "mapRoles[0]": ("skip", False, None),  # the duplicate the authenticator does not use
        "mapRoles[1]": ("create", False, ("STANDARD", "role/team/mg-admin", "admin", ("ops",), admin)),
        "mapRoles[2]": ("create", False, ("EC2_LINUX", "role/mg-nodes", None, (), ())),
        "mapRoles[3]": ("create", False, ("EC2_WINDOWS", "role/mg-win", None, (), ())),
        "mapRoles[4]": ("skip", True, None),  # Fargate: system: groups
        "mapRoles[5]": ("create", False, ("STANDARD", "role/mg-monitor", "monitor:{{SessionName}}", ("viewers",), ())),
        "mapRoles[6]": ("skip", True, None),  # a username EKS refuses
        "mapRoles[7]": ("create", False, ("STANDARD", "role/team/mg-pathy", "pathy", ("pathy",), ())),
        "mapRoles[8]": ("skip", True, None),  # service-linked
        "mapRoles[9]": ("create", False, ("STANDARD", "role/mg-ci", "ci", ("deployers",), ())),
        "mapUsers[0]": ("create", False, ("STANDARD", "user/mg-alice", "alice", (), admin)),
        "mapUsers[1]": ("skip", True, None),  # system:monitoring
        "mapAccounts[0]": ("skip", True, None),
    }
    a = world.account
    assert plan["blockers"] == [f"mapRoles[4] arn:aws:iam::{a}:role/mg-fargate",
                                f"mapRoles[6] arn:aws:iam::{a}:role/mg-templ",
                                f"mapRoles[8] arn:aws:iam::{a}:role/AWSServiceRoleForMgThing",
                                f"mapUsers[1] arn:aws:iam::{a}:user/mg-bob", "mapAccounts[0] 444455556666"]
    assert plan["modeSteps"] == ["API_AND_CONFIG_MAP"] and not plan["deletesAwsAuth"] and not plan["errors"]
    reasons = {r["row"].split(" ", 1)[0]: r["reason"] for r in plan["rows"]}
    assert "the authenticator uses mapRoles[9]" in reasons["mapRoles[0]"]
    assert "The username must include a colon before {{SessionName}}" in reasons["mapRoles[6]"]
    assert 'starts with "system:" (system:monitoring)' in reasons["mapUsers[1]"]
    notes = {r["row"].split(" ", 1)[0]: " ".join(r["notes"]) for r in plan["rows"]}
    assert "system:masters becomes AmazonEKSClusterAdminPolicy" in notes["mapRoles[1]"]
    assert "groups ['system:nodes']" in notes["mapRoles[2]"]
    assert "never matched" in notes["mapRoles[7]"]
    text = run(server, "migrate-to-access-entry", "--cluster", CLUSTER, "--target-authentication-mode", "API")
    assert text.returncode == 2, text.stderr
    assert "will not update authentication mode to API: 5 row(s) block it" in text.stdout
    assert "--approve --aws-auth-version 1" in text.stdout


def test_access_diff_for_a_switch_before_migrating(server: Server, world: World) -> None:
    refused = run(server, "access-diff", "--cluster", CLUSTER, "--authentication-mode", "API")
    assert refused.returncode == 1 and "Unsupported authentication mode update from CONFIG_MAP to API" in refused.stderr
    result = run(server, "access-diff", "--cluster", CLUSTER, "--migration", "API", "--json")
    assert result.returncode == 3, result.stderr
    changes = {c["principal"]: c for c in json.loads(result.stdout)["changes"]}
    a = world.account
    assert changes[f"role arn:aws:iam::{a}:role/team/mg-pathy"]["gains"]  # a row with a path never matched
    nodes = changes[f"nodes of role arn:aws:iam::{a}:role/mg-nodes"]
    assert nodes["node"] and nodes["loses"] == ["group system:bootstrappers"]
    creator = changes[f"root arn:aws:iam::{a}:root"]
    assert creator["creator"] and creator["you"] and not creator["loses"]


def test_explain_names_the_aws_auth_row_that_decided(server: Server, world: World) -> None:
    result = run(server, "explain", "--cluster", CLUSTER, "--principal-arn", world.roles["mg-ci"], "--verb", "get",
                 "--resource", "pods", "--namespace", "dev")
    assert result.returncode == 0, result.stderr
    a = world.account  # the last of the two rows for mg-ci: the one the authenticator uses
    assert f"mapped by aws-auth v1 mapRoles[9] rolearn arn:aws:iam::{a}:role/mg-ci to user 'ci'" in result.stdout


def identities(world: World) -> dict[str, tuple[str, tuple[str, ...], dict[str, Any]]]:
    """Who each principal is now, by the TokenReview webhook."""
    server, found = world.server, {}
    tokens = {name: token_for(server, world.role_session(name), CLUSTER)
              for name in ("mg-ci", "mg-admin", "mg-monitor", "mg-pathy", "mg-fargate")}
    tokens["mg-nodes"] = token_for(server, world.role_session("mg-nodes", INSTANCE), CLUSTER)
    tokens["mg-win"] = token_for(server, world.role_session("mg-win", INSTANCE), CLUSTER)
    for name in ("mg-alice", "mg-bob"):
        tokens[name] = token_for(server, world.users[name][:2], CLUSTER)
    for name, token in tokens.items():
        status = world.apiserver.status(token)
        if status["authenticated"]:
            user = status["user"]
            found[name] = (user["username"], tuple(sorted(user.get("groups", []))), user)
    return found


def decisions(world: World, user: dict[str, Any]) -> list[bool]:
    """Allowed or not for each corpus request: system:masters bypasses authorization, else the webhook decides."""
    if "system:masters" in user.get("groups", []):
        return [True] * len(CORPUS)
    return [bool(review(world.apiserver, sar(user, {"namespace": ns, "verb": verb, "group": group,
                                                    "resource": resource}))["allowed"])
            for ns, verb, group, resource in CORPUS]


def test_approve_keeps_who_everyone_is(server: Server, world: World) -> None:
    before = identities(world)
    assert "mg-pathy" not in before and {"mg-ci", "mg-admin", "mg-nodes", "mg-alice", "mg-bob"} <= set(before)
    assert before["mg-ci"][:2] == ("ci", ("deployers",))
    before_decisions = {name: decisions(world, user) for name, (_, _, user) in before.items()}
    stale = run(server, "migrate-to-access-entry", "--cluster", CLUSTER, "--target-authentication-mode", "API",
                "--approve", "--aws-auth-version", "0")
    assert stale.returncode == 1 and "changed since the plan" in stale.stdout + stale.stderr
    assert server.client("eks").describe_cluster(name=CLUSTER)["cluster"]["accessConfig"]["authenticationMode"] \
        == "CONFIG_MAP"  # refused before anything was done
    done = run(server, "migrate-to-access-entry", "--cluster", CLUSTER, "--target-authentication-mode", "API",
               "--approve", "--aws-auth-version", "1")
    assert done.returncode == 2, done.stdout + done.stderr  # blockers: stays in API_AND_CONFIG_MAP
    assert "done: authentication mode API_AND_CONFIG_MAP" in done.stdout
    eks = server.client("eks")
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    after = identities(world)
    plan_exceptions = {"mg-nodes", "mg-win", "mg-pathy"}  # node groups the entry gives; a row that never matched
    masters = {"mg-admin": ("admin", ("ops",)), "mg-alice": ("alice", ())}
    for name in set(before) - plan_exceptions - set(masters):
        assert after[name][:2] == before[name][:2], name
    # system:masters became AmazonEKSClusterAdminPolicy: the same username and other groups, decisions granted
    # by the webhook (compared below)
    for name, identity in masters.items():
        assert before[name][:2] == (identity[0], tuple(sorted({*identity[1], "system:masters"}))), name
        assert after[name][:2] == identity, name
    assert after["mg-nodes"][:2] == (f"system:node:{NODE_DNS}", ("system:nodes",))
    assert after["mg-pathy"][:2] == ("pathy", ("pathy",))
    for name in set(before) - {"mg-nodes", "mg-win"}:
        assert decisions(world, after[name][2]) == before_decisions[name], name
    # after the migration, a switch to API takes away only what could not move
    diff = run(server, "access-diff", "--cluster", CLUSTER, "--authentication-mode", "API", "--json")
    assert diff.returncode == 3
    losing = {c["principal"] for c in json.loads(diff.stdout)["changes"] if c["loses"]}
    a = world.account
    assert losing == {f"role arn:aws:iam::{a}:role/mg-fargate", f"role arn:aws:iam::{a}:role/mg-templ",
                      f"role arn:aws:iam::{a}:role/AWSServiceRoleForMgThing", f"user arn:aws:iam::{a}:user/mg-bob", "any principal of account 444455556666 (mapAccounts)"}
    again = plan_json(server, CLUSTER, "API", "--approve")  # running it twice is safe
    assert again["outcome"]["failed"] is None and again["outcome"]["done"] == []
    assert again["accessDiff"]["changes"] == []


def test_a_full_migration_to_api_deletes_aws_auth(server: Server, tmp_path: Path) -> None:
    eks = server.client("eks")
    from conftest import ensure_role

    access_key, secret, user_arn = user_key(server, "mg2-user")
    role = server.client("iam").create_role(RoleName="mg2-deploy", AssumeRolePolicyDocument=trust_policy(user_arn))
    arn = role["Role"]["Arn"]
    eks.create_cluster(name="mg2", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
    try:
        assert run(server, "iamidentitymapping", "create", "--cluster", "mg2", "--arn", arn, "--username", "deploy",
                   "--group", "deployers").returncode == 0
        eks.update_cluster_config(name="mg2", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
        loses = run(server, "access-diff", "--cluster", "mg2", "--authentication-mode", "API")
        assert loses.returncode == 3, loses.stderr  # mapped only in aws-auth
        assert f"role {arn}\n  LOSES   all access (user 'deploy', groups ['deployers'])" in loses.stdout
        keeps = run(server, "access-diff", "--cluster", "mg2", "--migration", "API")
        assert keeps.returncode == 0 and "LOSES" not in keeps.stdout, keeps.stdout
        done = run(server, "migrate-to-access-entry", "--cluster", "mg2", "--target-authentication-mode", "API",
                   "--approve")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "done: aws-auth deleted" in done.stdout
        assert eks.describe_cluster(name="mg2")["cluster"]["accessConfig"]["authenticationMode"] == "API"
        entry = eks.describe_access_entry(clusterName="mg2", principalArn=arn)["accessEntry"]
        assert entry["username"] == "deploy" and entry["kubernetesGroups"] == ["deployers"]
        history = run(server, "awsauth", "history", "--cluster", "mg2", "--json")
        versions = json.loads(history.stdout)["versions"]
        assert versions[0]["changes"][0].startswith("deleted aws-auth")
        assert versions[0]["author"] == f"arn:aws:iam::{server.account()}:root"
        no_need = run(server, "migrate-to-access-entry", "--cluster", "mg2", "--target-authentication-mode", "API")
        assert no_need.returncode == 0 and "there is no need to migrate" in no_need.stdout
        apiserver = Apiserver(server, "mg2", tmp_path / "webhook")
        token = token_for(server, assume(server, (access_key, secret), arn, "s1"), "mg2")
        assert apiserver.status(token)["user"]["username"] == "deploy"
    finally:
        eks.delete_cluster(name="mg2")


def test_a_principal_deleted_from_iam_stops_the_migration(server: Server) -> None:
    eks = server.client("eks")
    from conftest import ensure_role

    iam = server.client("iam")
    arn = iam.create_role(RoleName="mg3-gone", AssumeRolePolicyDocument=trust_policy(server.account()))["Role"]["Arn"]
    eks.create_cluster(name="mg3", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
    try:
        assert run(server, "iamidentitymapping", "create", "--cluster", "mg3", "--arn", arn, "--username", "gone",
                   "--group", "g").returncode == 0
        iam.delete_role(RoleName="mg3-gone")
        result = run(server, "migrate-to-access-entry", "--cluster", "mg3", "--target-authentication-mode", "API",
                     "--approve")
        assert result.returncode == 1
        assert 'role "mg3-gone" does not exist in IAM' in result.stdout
        assert f"kubegate iamidentitymapping delete --cluster mg3 --arn {arn}" in result.stdout
        assert eks.describe_cluster(name="mg3")["cluster"]["accessConfig"]["authenticationMode"] == "CONFIG_MAP"
        bad = run(server, "migrate-to-access-entry", "--cluster", "mg3", "--target-authentication-mode", "CONFIG_MAP")
        assert bad.returncode == 1 and "target authentication mode is invalid" in bad.stderr
    finally:
        eks.delete_cluster(name="mg3")


def test_a_switch_to_api_that_loses_access_is_warned_about(server: Server) -> None:
    eks = server.client("eks")
    from conftest import ensure_role

    arn = ensure_role(server, "mg4-ci")
    eks.create_cluster(name="mg4", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    try:
        assert run(server, "iamidentitymapping", "create", "--cluster", "mg4", "--arn", arn, "--username", "ci",
                   "--group", "ci").returncode == 0
        eks.update_cluster_config(name="mg4", accessConfig={"authenticationMode": "API"})  # EKS allows it: so do we
        assert eks.describe_cluster(name="mg4")["cluster"]["accessConfig"]["authenticationMode"] == "API"
        assert f"cluster mg4: arn:aws:iam::{server.account()}:root switches the authentication mode to API; " \
               f"1 principal(s) lose access: role {arn} loses all access" in server.log()
        audit = [json.loads(line) for line in (server.data_dir / "audit.log").read_text().splitlines()]
        warning = [r for r in audit if r["kind"] == "mode-switch-warning" and r["cluster"] == "mg4"]
        assert warning and warning[0]["losing"][0]["principal"] == f"role {arn}"
    finally:
        eks.delete_cluster(name="mg4")
