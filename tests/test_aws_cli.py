"""The issue's walk-through with the real AWS CLI, configured only by `kubegate env`."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from conftest import BIN, Server


def aws(server: Server, *args: str, ok: bool = True) -> Any:
    result = subprocess.run(
        [str(BIN / "aws"), *args, "--output", "json"], env=server.cli_env(), capture_output=True, text=True, timeout=60
    )
    if ok:
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None
    assert result.returncode != 0
    return result.stderr


def test_kubegate_env_points_the_cli_at_kubegate(server: Server) -> None:
    env = server.cli_env()
    assert env["AWS_ENDPOINT_URL"] == server.endpoint
    assert env["AWS_CA_BUNDLE"] == server.ca
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == str(server.data_dir / "credentials")
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"


def test_issue_walkthrough(server: Server) -> None:
    acct = server.account()
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sts:AssumeRole"}]})
    principal = aws(server, "iam", "create-role", "--role-name", "cli-dev-role",
                    "--assume-role-policy-document", trust)["Role"]["Arn"]
    created = aws(server, "eks", "create-cluster", "--name", "cli-dev", "--role-arn", f"arn:aws:iam::{acct}:role/eks",
                  "--resources-vpc-config", "subnetIds=subnet-1",
                  "--access-config", "authenticationMode=API_AND_CONFIG_MAP")
    assert created["cluster"]["name"] == "cli-dev"
    assert created["cluster"]["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    entry = aws(server, "eks", "create-access-entry", "--cluster-name", "cli-dev", "--principal-arn", principal)
    assert entry["accessEntry"]["username"] == f"arn:aws:sts::{acct}:assumed-role/cli-dev-role/{{{{SessionName}}}}"
    # AWS CLI v1 prints rest-json timestamps as the epoch seconds EKS sends.
    assert abs(entry["accessEntry"]["createdAt"] - time.time()) < 60
    associated = aws(server, "eks", "associate-access-policy", "--cluster-name", "cli-dev", "--principal-arn", principal,
                     "--policy-arn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                     "--access-scope", "type=namespace,namespaces=team-a")
    assert associated["associatedAccessPolicy"]["accessScope"] == {"type": "namespace", "namespaces": ["team-a"]}
    listed = aws(server, "eks", "list-associated-access-policies", "--cluster-name", "cli-dev", "--principal-arn", principal)
    assert [p["policyArn"] for p in listed["associatedAccessPolicies"]] == [
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
    ]
    update = aws(server, "eks", "update-cluster-config", "--name", "cli-dev", "--access-config", "authenticationMode=API")
    assert update["update"]["status"] == "InProgress"
    aws(server, "eks", "wait", "cluster-active", "--name", "cli-dev")
    described = aws(server, "eks", "describe-cluster", "--name", "cli-dev")
    assert described["cluster"]["accessConfig"]["authenticationMode"] == "API"
    stderr = aws(server, "eks", "update-cluster-config", "--name", "cli-dev",
                 "--access-config", "authenticationMode=API_AND_CONFIG_MAP", ok=False)
    assert "InvalidParameterException" in stderr
    assert "Unsupported authentication mode update from API to API_AND_CONFIG_MAP" in stderr
    entries = aws(server, "eks", "list-access-entries", "--cluster-name", "cli-dev")["accessEntries"]
    assert principal in entries
    aws(server, "eks", "delete-access-entry", "--cluster-name", "cli-dev", "--principal-arn", principal)
    stderr = aws(server, "eks", "describe-access-entry", "--cluster-name", "cli-dev", "--principal-arn", principal, ok=False)
    assert "ResourceNotFoundException" in stderr
    policies = aws(server, "eks", "list-access-policies")["accessPolicies"]
    assert {"name": "AmazonEKSClusterAdminPolicy",
            "arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"} in policies
    aws(server, "eks", "delete-cluster", "--name", "cli-dev")


def test_set_endpoint_is_shown_by_describe_cluster(server: Server, tmp_path: Any) -> None:
    acct = server.account()
    aws(server, "eks", "create-cluster", "--name", "cli-ep", "--role-arn", f"arn:aws:iam::{acct}:role/eks",
        "--resources-vpc-config", "subnetIds=subnet-1")
    ca = tmp_path / "apiserver-ca.crt"
    ca.write_bytes((server.data_dir / "ca.crt").read_bytes())
    subprocess.run([str(BIN / "kubegate"), "cluster", "set-endpoint", "--data-dir", str(server.data_dir),
                    "--name", "cli-ep", "--server", "https://10.0.0.1:6443", "--certificate-authority", str(ca)],
                   check=True, capture_output=True)
    cluster = aws(server, "eks", "describe-cluster", "--name", "cli-ep")["cluster"]
    assert cluster["endpoint"] == "https://10.0.0.1:6443"
    import base64

    assert base64.b64decode(cluster["certificateAuthority"]["data"]) == ca.read_bytes()
    missing = subprocess.run([str(BIN / "kubegate"), "cluster", "set-endpoint", "--data-dir", str(server.data_dir),
                              "--name", "nope", "--server", "https://x"], capture_output=True, text=True)
    assert missing.returncode != 0 and "No cluster found for name: nope." in missing.stderr
    aws(server, "eks", "delete-cluster", "--name", "cli-ep")


def test_iam_sts_walkthrough_with_profiles(server: Server, tmp_path: Any) -> None:
    """Issue 3's flow: a user assumes a role whose policy allows reading EKS, and nothing more."""
    import shutil

    acct = server.account()
    credentials = tmp_path / "credentials"
    shutil.copy(server.data_dir / "credentials", credentials)
    env = {**server.cli_env(), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}

    def run(*args: str, profile: str | None = None, ok: bool = True) -> Any:
        result = subprocess.run([str(BIN / "aws"), *args, "--output", "json"], capture_output=True, text=True,
                                env={**env, **({"AWS_PROFILE": profile} if profile else {})}, timeout=60)
        if not ok:
            assert result.returncode != 0
            return result.stderr
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    run("eks", "create-cluster", "--name", "cli-iam", "--role-arn", f"arn:aws:iam::{acct}:role/eks",
        "--resources-vpc-config", "subnetIds=subnet-1", "--access-config", "authenticationMode=API")
    run("iam", "create-user", "--user-name", "cli-alice")
    key = run("iam", "create-access-key", "--user-name", "cli-alice")["AccessKey"]
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/cli-alice"}, "Action": "sts:AssumeRole"}]}))
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["eks:ListAccessEntries", "eks:DescribeCluster"], "Resource": "*"}]}))
    role = run("iam", "create-role", "--role-name", "cli-dev", "--assume-role-policy-document", f"file://{trust}")
    run("iam", "put-role-policy", "--role-name", "cli-dev", "--policy-name", "eks-read",
        "--policy-document", f"file://{policy}")
    for name, value in (("aws_access_key_id", key["AccessKeyId"]), ("aws_secret_access_key", key["SecretAccessKey"])):
        run("configure", "set", name, value, "--profile", "alice")
    session = run("sts", "assume-role", "--role-arn", role["Role"]["Arn"], "--role-session-name", "alice",
                  profile="alice")["Credentials"]
    for name, value in (("aws_access_key_id", session["AccessKeyId"]),
                        ("aws_secret_access_key", session["SecretAccessKey"]),
                        ("aws_session_token", session["SessionToken"])):
        run("configure", "set", name, value, "--profile", "dev-session")
    identity = run("sts", "get-caller-identity", profile="dev-session")
    assert identity["Arn"] == f"arn:aws:sts::{acct}:assumed-role/cli-dev/alice"
    assert identity["UserId"] == f"{role['Role']['RoleId']}:alice"
    assert run("eks", "list-access-entries", "--cluster-name", "cli-iam", profile="dev-session")["accessEntries"]
    stderr = run("eks", "create-access-entry", "--cluster-name", "cli-iam", "--principal-arn", role["Role"]["Arn"],
                 profile="dev-session", ok=False)
    assert "AccessDeniedException" in stderr
    assert f"User: arn:aws:sts::{acct}:assumed-role/cli-dev/alice is not authorized to perform: eks:CreateAccessEntry" in stderr
    run("eks", "delete-cluster", "--name", "cli-iam")
