"""A live cluster's kube-system/aws-auth, read and watched once its API server and token are recorded."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import yaml

from conftest import BIN, Server, ensure_role, eventually, trust_policy
from kubegate import pki
from test_aws_auth_watch import TOKEN, StandInApiserver
from test_token_webhook import Apiserver, assume, token_for, user_key


def test_live_aws_auth_is_followed(server: Server, tmp_path: Path) -> None:
    eks = server.client("eks")
    eks.create_cluster(name="live", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    authority = pki.new_authority("live cluster CA")
    api = StandInApiserver(authority)
    try:
        access_key, secret, user_arn = user_key(server, "live-user")
        role = server.client("iam").create_role(RoleName="live-ops", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]

        def mapping(username: str) -> dict[str, str]:
            return {"mapRoles": yaml.safe_dump([{"rolearn": role["Arn"], "username": username, "groups": ["ops"]}])}

        api.put(mapping("ops-v1"))
        (tmp_path / "ca.crt").write_bytes(pki.certificate_pem(authority.certificate))
        (tmp_path / "token").write_text(TOKEN + "\n")
        subprocess.run([str(BIN / "kubegate"), "cluster", "set-endpoint", "--data-dir", str(server.data_dir),
                        "--name", "live", "--server", api.url, "--certificate-authority", str(tmp_path / "ca.crt"),
                        "--token-file", str(tmp_path / "token")], check=True, capture_output=True)
        apiserver = Apiserver(server, "live", tmp_path / "webhook")
        session = assume(server, (access_key, secret), role["Arn"], "ops")

        def username() -> str | None:
            status = apiserver.status(token_for(server, session, "live"))
            return status["user"]["username"] if status["authenticated"] else None

        assert eventually(lambda: username() == "ops-v1"), username()
        api.put(mapping("ops-v2"))
        assert eventually(lambda: username() == "ops-v2"), username()
        api.put({"mapRoles": "- rolearn: [unclosed\n"})  # invalid: the previous version keeps serving
        time.sleep(3)
        assert username() == "ops-v2"
        api.delete()
        assert eventually(lambda: username() is None)
    finally:
        api.close()
        eks.delete_cluster(name="live")
