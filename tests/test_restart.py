"""Durability: what was written survives a SIGTERM and a new start on the same data dir."""

from __future__ import annotations

from pathlib import Path

from conftest import Server, ensure_role


def test_state_survives_restart(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    server.start()
    try:
        eks = server.client()
        account = server.account()
        principal = ensure_role(server, "dev")
        eks.create_cluster(name="dev", roleArn=f"arn:aws:iam::{account}:role/eks",
                           resourcesVpcConfig={"subnetIds": ["subnet-1"]}, tags={"env": "test"},
                           accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
        entry = eks.create_access_entry(clusterName="dev", principalArn=principal, kubernetesGroups=["devs"],
                                        tags={"owner": "me"})["accessEntry"]
        eks.associate_access_policy(clusterName="dev", principalArn=principal,
                                    policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                                    accessScope={"type": "namespace", "namespaces": ["team-a"]})
        update = eks.update_cluster_config(name="dev", accessConfig={"authenticationMode": "API"})["update"]
        credentials = server.credentials()
        eks.close()
        assert server.stop() == 0
        ca_before = (server.data_dir / "ca.crt").read_bytes()

        server.start()
        assert (server.data_dir / "ca.crt").read_bytes() == ca_before
        assert server.account() == account and server.credentials() == credentials
        eks = server.client()
        cluster = eks.describe_cluster(name="dev")["cluster"]
        assert cluster["accessConfig"]["authenticationMode"] == "API"
        assert cluster["tags"] == {"env": "test"}
        assert eks.describe_access_entry(clusterName="dev", principalArn=principal)["accessEntry"] == entry
        policies = eks.list_associated_access_policies(clusterName="dev", principalArn=principal)
        assert [(p["policyArn"].rsplit("/", 1)[1], p["accessScope"]) for p in policies["associatedAccessPolicies"]] == [
            ("AmazonEKSViewPolicy", {"type": "namespace", "namespaces": ["team-a"]})
        ]
        assert eks.describe_update(name="dev", updateId=update["id"])["update"]["status"] == "Successful"
    finally:
        if server.process is not None:
            server.stop()


def test_secrets_at_rest_are_private_and_encrypted(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    server.start()
    try:
        for name in ("ca.key", "server.key", "secret.key", "credentials"):
            assert (server.data_dir / name).stat().st_mode & 0o777 == 0o600, name
        _, secret = server.credentials()
        database = b"".join(path.read_bytes() for path in server.data_dir.glob("kubegate.db*"))  # the WAL too
        assert secret.encode() not in database
        assert server.credentials()[0].encode() in database  # the key ID is not secret; the secret is
        assert secret not in server.log()
    finally:
        server.stop()
