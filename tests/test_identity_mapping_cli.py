"""`kubegate iamidentitymapping` and `awsauth history`: against kubegate's stored aws-auth and against a
live cluster's ConfigMap (the stand-in apiserver), with concurrent edits and IAM authorization."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import BIN, Server, ensure_role, ensure_user, eventually
from kubegate import pki
from test_aws_auth_watch import TOKEN, StandInApiserver
from test_migration import run
from test_token_webhook import Apiserver, assume, token_for, user_key


@pytest.fixture
def cluster(server: Server, request: pytest.FixtureRequest) -> Any:
    name = f"im-{request.node.name[5:20].replace('_', '-')}"
    eks = server.client("eks")
    eks.create_cluster(name=name, roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    yield name
    eks.delete_cluster(name=name)


def rows(server: Server, cluster: str) -> list[dict[str, Any]]:
    got = run(server, "iamidentitymapping", "get", "--cluster", cluster, "-o", "json")
    assert got.returncode == 0, got.stderr
    return list(json.loads(got.stdout))


def test_create_get_delete_on_the_stored_aws_auth(server: Server, cluster: str) -> None:
    a = server.account()
    ci = f"arn:aws:iam::{a}:role/ci"
    assert run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn", ci, "--username", "ci",
               "--group", "deployers", "--group", "readers").returncode == 0
    assert run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn",
               f"arn:aws:iam::{a}:role/nodes", "--username", "system:node:{{EC2PrivateDNSName}}",
               "--group", "system:bootstrappers", "--group", "system:nodes").returncode == 0
    assert run(server, "iamidentitymapping", "create", "--cluster", cluster, "--account", "444455556666").returncode == 0
    assert rows(server, cluster) == [
        {"arn": ci, "username": "ci", "groups": ["deployers", "readers"], "account": ""},
        {"arn": f"arn:aws:iam::{a}:role/nodes", "username": "system:node:{{EC2PrivateDNSName}}",
         "groups": ["system:bootstrappers", "system:nodes"], "account": ""},
        {"arn": "", "username": "", "groups": [], "account": "444455556666"},
    ]
    table = run(server, "iamidentitymapping", "get", "--cluster", cluster)
    assert table.stdout.splitlines()[0].split() == ["ARN", "USERNAME", "GROUPS", "ACCOUNT"]
    assert f"{ci}" in table.stdout and "deployers,readers" in table.stdout and "aws-auth version 3" in table.stderr
    as_yaml = yaml.safe_load(run(server, "iamidentitymapping", "get", "--cluster", cluster, "-o", "yaml").stdout)
    assert as_yaml[0]["groups"] == ["deployers", "readers"]
    # refusals, in eksctl's words where eksctl has them
    path = run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn",
               f"arn:aws:iam::{a}:role/team/ci", "--username", "x")
    assert path.returncode == 1 and "cannot include a path" in path.stderr
    neither = run(server, "iamidentitymapping", "create", "--cluster", cluster, "--username", "x")
    assert neither.returncode == 1 and "expected a valid arn but got empty string" in neither.stderr
    dup = run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn", ci, "--username", "other",
              "--no-duplicate-arns")
    assert dup.returncode == 1 and "shadowing is disabled" in dup.stderr
    # a duplicate is allowed otherwise; the authenticator uses the last one, delete removes the first
    assert run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn", ci, "--username", "ci-2",
               "--group", "g").returncode == 0
    first = run(server, "iamidentitymapping", "delete", "--cluster", cluster, "--arn", ci)
    assert first.returncode == 0 and "there are 1 mappings left" in first.stderr
    assert [r["username"] for r in rows(server, cluster) if r["arn"] == ci] == ["ci-2"]
    assert run(server, "iamidentitymapping", "delete", "--cluster", cluster, "--arn", ci, "--all").returncode == 0
    missing = run(server, "iamidentitymapping", "delete", "--cluster", cluster, "--arn", ci)
    assert missing.returncode == 1 and "not found in auth ConfigMap" in missing.stderr
    history = json.loads(run(server, "awsauth", "history", "--cluster", cluster, "--json").stdout)["versions"]
    assert [v["version"] for v in history] == [6, 5, 4, 3, 2, 1]
    assert history[-1]["author"] == f"arn:aws:iam::{a}:root"
    assert any(ci in line and "deployers" in line for line in history[-1]["changes"]), history[-1]
    text = run(server, "awsauth", "history", "--cluster", cluster).stdout
    assert text.startswith("v6 ") and f"by arn:aws:iam::{a}:root" in text


def test_edits_are_authorized_by_iam(server: Server, cluster: str) -> None:
    iam = server.client("iam")
    user = f"im-editor-{cluster}"[:60]
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    env = {**server.cli_env(), "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
           "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    arn = ensure_role(server, "im-x")
    refused = run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn", arn, "--username", "x",
                  env=env)
    assert refused.returncode == 1 and "not authorized to perform: kubegate:CreateIdentityMapping" in refused.stderr
    cluster_arn = server.client("eks").describe_cluster(name=cluster)["cluster"]["arn"]
    iam.put_user_policy(UserName=user, PolicyName="edit", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kubegate:CreateIdentityMapping",
                                                     "kubegate:DescribeIdentityMappings"], "Resource": cluster_arn}]}))
    allowed = run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn", arn, "--username", "x",
                  env=env)
    assert allowed.returncode == 0, allowed.stderr
    denied = run(server, "iamidentitymapping", "delete", "--cluster", cluster, "--arn", arn, env=env)
    assert denied.returncode == 1 and "kubegate:DeleteIdentityMapping" in denied.stderr
    diff = run(server, "access-diff", "--cluster", cluster, "--authentication-mode", "API", env=env)
    assert diff.returncode == 1 and "eks:ListAccessEntries" in diff.stderr  # a diff shows everyone: it needs the reads
    history = json.loads(run(server, "awsauth", "history", "--cluster", cluster, "--json", env=env).stdout)
    assert history["versions"][0]["author"] == f"arn:aws:iam::{server.account()}:user/{user}"
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["eks:ListAccessEntries", "eks:DescribeAccessEntry",
                                                     "eks:ListAssociatedAccessPolicies"], "Resource": "*"}]}))
    diff = run(server, "access-diff", "--cluster", cluster, "--authentication-mode", "API", env=env)
    assert diff.returncode == 3 and f"role {arn}\n  LOSES   all access" in diff.stdout, diff.stderr
    plan = run(server, "migrate-to-access-entry", "--cluster", cluster, "--target-authentication-mode", "API", env=env)
    assert plan.returncode == 0, plan.stderr
    approve = run(server, "migrate-to-access-entry", "--cluster", cluster, "--target-authentication-mode", "API",
                  "--approve", env=env)  # every step is authorized before the first is taken
    assert approve.returncode == 1 and "not authorized to perform: eks:UpdateClusterConfig" in approve.stderr
    entries = server.client("eks").list_access_entries(clusterName=cluster)["accessEntries"]
    assert entries == [f"arn:aws:iam::{server.account()}:root"]


def record_endpoint(server: Server, cluster: str, api: StandInApiserver, authority: pki.Authority,
                    tmp_path: Path) -> None:
    """`kubegate cluster set-endpoint` with the stand-in's CA and a token that may edit aws-auth."""
    (tmp_path / "ca.crt").write_bytes(pki.certificate_pem(authority.certificate))
    (tmp_path / "token").write_text(TOKEN + "\n")
    subprocess.run([str(BIN / "kubegate"), "cluster", "set-endpoint", "--data-dir", str(server.data_dir),
                    "--name", cluster, "--server", api.url, "--certificate-authority", str(tmp_path / "ca.crt"),
                    "--token-file", str(tmp_path / "token")], check=True, capture_output=True)


def test_a_malformed_live_aws_auth_is_neither_edited_nor_migrated(server: Server, cluster: str,
                                                                  tmp_path: Path) -> None:
    authority = pki.new_authority("live cluster CA")
    api = StandInApiserver(authority)
    try:
        api.put({"mapRoles": "- rolearn: [unclosed\n"})
        record_endpoint(server, cluster, api, authority, tmp_path)
        arn = ensure_role(server, "im-malformed")
        edit = run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn", arn, "--username", "x")
        assert edit.returncode == 1 and "aws-auth mapRoles" in edit.stderr and "invalid YAML" in edit.stderr
        assert api.obj["data"] == {"mapRoles": "- rolearn: [unclosed\n"}  # type: ignore[index]
        plan = run(server, "migrate-to-access-entry", "--cluster", cluster, "--target-authentication-mode", "API")
        assert plan.returncode == 1 and "is invalid, fix it first" in plan.stderr
        assert not [w for w in api.writes_requested()]
    finally:
        api.close()


def test_live_config_map_edits_never_overwrite_a_concurrent_edit(server: Server, cluster: str, tmp_path: Path) -> None:
    authority = pki.new_authority("live cluster CA")
    api = StandInApiserver(authority)
    try:
        access_key, secret, user_arn = user_key(server, f"{cluster}-u"[:60])
        from conftest import trust_policy

        role = server.client("iam").create_role(RoleName=f"{cluster}-ops"[:60],
                                                AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]["Arn"]
        other = ensure_role(server, "someone-else")
        ensure_user(server, "racer")
        api.put({"mapRoles": yaml.safe_dump([{"rolearn": other, "username": "else", "groups": ["e"]}]),
                 "extra": "kept"}, labels={"app.kubernetes.io/managed-by": "eksctl"})
        record_endpoint(server, cluster, api, authority, tmp_path)
        # a concurrent editor writes between kubegate's read and its write: kubegate's PUT gets 409, reads again
        labels = {"app.kubernetes.io/managed-by": "eksctl"}
        api.interleave.append(lambda: api.put({**api.obj["data"], "mapUsers": yaml.safe_dump(  # type: ignore[index]
            [{"userarn": f"arn:aws:iam::{server.account()}:user/racer", "username": "racer"}])}, labels=labels))
        created = run(server, "iamidentitymapping", "create", "--cluster", cluster, "--arn", role, "--username",
                      "ops", "--group", "ops")
        assert created.returncode == 0, created.stderr
        assert "kube-system/aws-auth in the cluster (live@" in created.stdout
        data = api.obj["data"]  # type: ignore[index]
        assert data["extra"] == "kept" and "racer" in data["mapUsers"]  # nobody's edit was lost
        assert role in data["mapRoles"] and other in data["mapRoles"]
        assert api.obj["metadata"]["labels"] == labels  # type: ignore[index]
        puts = [w for w in api.writes_requested() if w[0] == "PUT"]
        assert len(puts) == 2  # the first conflicted
        # the webhook follows the live ConfigMap
        apiserver = Apiserver(server, cluster, tmp_path / "webhook")
        token = token_for(server, assume(server, (access_key, secret), role, "s1"), cluster)
        assert eventually(lambda: apiserver.status(token).get("user", {}).get("username") == "ops")
        # an editor that never stops: refused with the reason, nothing written by kubegate
        api.interleave.extend(lambda: api.put({**api.obj["data"], "n": str(i)}) for i in range(10))  # type: ignore[index]
        busy = run(server, "iamidentitymapping", "delete", "--cluster", cluster, "--arn", role)
        assert busy.returncode == 1 and "was changed by someone else 5 times" in busy.stderr
        api.interleave.clear()
        assert role in api.obj["data"]["mapRoles"]  # type: ignore[index]
        history = json.loads(run(server, "awsauth", "history", "--cluster", cluster, "--json").stdout)["versions"]
        mine = [v for v in history if v["author"] == f"arn:aws:iam::{server.account()}:root"]
        assert mine and any(role in line for line in mine[-1]["changes"])
        # a plan made before the live ConfigMap changed is refused at approve
        plan = json.loads(run(server, "migrate-to-access-entry", "--cluster", cluster, "--target-authentication-mode",
                              "API", "--json").stdout)["plan"]
        api.put({**api.obj["data"], "late": "edit"})  # type: ignore[index]
        stale = run(server, "migrate-to-access-entry", "--cluster", cluster, "--target-authentication-mode", "API",
                    "--approve", "--aws-auth-version", plan["awsAuthVersion"])
        assert stale.returncode == 1 and "changed since the plan" in stale.stdout + stale.stderr
        assert server.client("eks").list_access_entries(clusterName=cluster)["accessEntries"] == [
            f"arn:aws:iam::{server.account()}:root"]
        done = run(server, "migrate-to-access-entry", "--cluster", cluster, "--target-authentication-mode", "API",
                   "--approve")
        assert done.returncode == 0, done.stdout + done.stderr
        assert api.obj is None  # deleted in the cluster, with its resourceVersion as the precondition
        assert eventually(lambda: apiserver.status(token).get("user", {}).get("username") == "ops")
    finally:
        api.close()


def test_a_migration_waits_on_updates_and_stops_with_the_reason(tmp_path: Path) -> None:
    slow = Server(tmp_path / "data", extra_args=("--settle-seconds", "2"))
    slow.start()
    try:
        eks = slow.client("eks")
        arn = ensure_role(slow, "slow-ci")
        eks.create_cluster(name="slow", roleArn=ensure_role(slow, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
        assert run(slow, "iamidentitymapping", "create", "--cluster", "slow", "--arn", arn, "--username", "ci",
                   "--group", "ci").returncode == 0
        eks.update_cluster_config(name="slow", logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
        busy = run(slow, "migrate-to-access-entry", "--cluster", "slow", "--target-authentication-mode", "API",
                   "--approve")
        assert busy.returncode == 1 and "currently has update" in busy.stderr, busy.stdout + busy.stderr
        assert "run the command again to continue" in busy.stderr
        assert eks.describe_cluster(name="slow")["cluster"]["accessConfig"]["authenticationMode"] == "CONFIG_MAP"
        assert eventually(lambda: all(eks.describe_update(name="slow", updateId=u)["update"]["status"] == "Successful"
                                      for u in eks.list_updates(name="slow")["updateIds"]))
        done = run(slow, "migrate-to-access-entry", "--cluster", "slow", "--target-authentication-mode", "API",
                   "--approve")
        assert done.returncode == 0, done.stdout + done.stderr
        assert [line for line in done.stdout.splitlines() if line.startswith("done:")] == [
            "done: authentication mode API_AND_CONFIG_MAP", f"done: access entry {arn} (STANDARD)",
            "done: authentication mode API", "done: aws-auth deleted (API mode no longer reads it)"]
        updates = [eks.describe_update(name="slow", updateId=u)["update"] for u in eks.list_updates(name="slow")["updateIds"]]
        assert [u["status"] for u in updates] == ["Successful"] * 3  # each mode step waited for its update
    finally:
        slow.stop()
