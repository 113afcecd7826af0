"""OIDC identity provider configs: boto3 and the AWS CLI against a running kubegate, and the
service with a clock in-process (DELETING, settle times, snapshots).

botocore parses every answer with the EKS model, so a response of the wrong shape fails here.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN, Server
from kubegate.domain.caller import Caller
from kubegate.domain.errors import InvalidRequest, ResourceInUse, ResourceNotFound
from kubegate.domain.identity_providers import ConfigStatus
from kubegate.engine.registry import SnapshotRegistry
from kubegate.service.access import AccessService
from kubegate.service.identity_providers import IdentityProviderService
from kubegate.store.database import Store

_names = itertools.count()
ISSUER = "https://idp.example.com/realms/dev"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def oidc(name: str = "dev", issuer: str = ISSUER, **extra: Any) -> dict[str, Any]:
    return {"identityProviderConfigName": name, "issuerUrl": issuer, "clientId": "kubernetes", **extra}


def ref(name: str) -> dict[str, str]:
    return {"type": "oidc", "name": name}


@pytest.fixture
def cluster(eks: Any, server: Server) -> Iterator[str]:
    name = f"idp{next(_names)}"
    eks.create_cluster(name=name, roleArn=f"arn:aws:iam::{server.account()}:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    yield name
    try:
        eks.delete_cluster(name=name)
    except ClientError:
        pass


# the lifecycle


def test_associate_describe_list_disassociate(eks: Any, server: Server, cluster: str) -> None:
    associated = eks.associate_identity_provider_config(
        clusterName=cluster,
        oidc=oidc(usernameClaim="email", usernamePrefix="-", groupsClaim="groups", groupsPrefix="oidc:",
                  requiredClaims={"hd": "example.com"}),
        tags={"team": "platform"},
    )
    update = associated["update"]
    assert update["type"] == "AssociateIdentityProviderConfig" and update["status"] == "InProgress"
    assert update["params"] == [{"type": "IdentityProviderConfig", "value": '[{"type":"oidc","name":"dev"}]'}]
    assert update["errors"] == []
    assert associated["tags"] == {"team": "platform"}

    described = eks.describe_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("dev"))
    config = described["identityProviderConfig"]["oidc"]
    arn = config.pop("identityProviderConfigArn")
    assert arn.startswith(f"arn:aws:eks:us-east-1:{server.account()}:identityproviderconfig/{cluster}/oidc/dev/")
    assert len(arn.rsplit("/", 1)[1]) == 36
    assert config == {
        "identityProviderConfigName": "dev", "clusterName": cluster, "issuerUrl": ISSUER, "clientId": "kubernetes",
        "usernameClaim": "email", "usernamePrefix": "-", "groupsClaim": "groups", "groupsPrefix": "oidc:",
        "requiredClaims": {"hd": "example.com"}, "tags": {"team": "platform"}, "status": "ACTIVE",
    }
    assert eks.describe_update(name=cluster, updateId=update["id"])["update"]["status"] == "Successful"
    assert update["id"] in eks.list_updates(name=cluster)["updateIds"]
    assert eks.list_identity_provider_configs(clusterName=cluster)["identityProviderConfigs"] == [ref("dev")]

    gone = eks.disassociate_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("dev"))["update"]
    assert gone["type"] == "DisassociateIdentityProviderConfig" and gone["status"] == "InProgress"
    assert gone["params"] == update["params"]
    assert eks.describe_update(name=cluster, updateId=gone["id"])["update"]["status"] == "Successful"
    assert eks.list_updates(name=cluster)["updateIds"][-2:] == [update["id"], gone["id"]]
    assert eks.list_identity_provider_configs(clusterName=cluster)["identityProviderConfigs"] == []
    with pytest.raises(ClientError) as excinfo:
        eks.describe_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("dev"))
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        f"No config found for cluster: {cluster}, config type: oidc, config name: dev", 404,
    )
    with pytest.raises(ClientError) as excinfo:  # its tags went with it
        eks.list_tags_for_resource(resourceArn=arn)
    assert error_of(excinfo)[0] == "NotFoundException"
    # the name and the issuer are free again
    eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc())
    assert eks.list_identity_provider_configs(clusterName=cluster)["identityProviderConfigs"] == [ref("dev")]


def test_describe_without_optional_members_and_no_tags(eks: Any, cluster: str) -> None:
    assert eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc())["tags"] == {}
    config = eks.describe_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("dev"))
    config = config["identityProviderConfig"]["oidc"]
    assert "usernameClaim" not in config and "groupsPrefix" not in config
    assert config["requiredClaims"] == {} and config["tags"] == {}


def test_list_paginates(eks: Any, cluster: str) -> None:
    for i in range(3):
        eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(f"p{i}", f"{ISSUER}/{i}"))
    first = eks.list_identity_provider_configs(clusterName=cluster, maxResults=2)
    assert first["identityProviderConfigs"] == [ref("p0"), ref("p1")] and first["nextToken"]
    rest = eks.list_identity_provider_configs(clusterName=cluster, maxResults=2, nextToken=first["nextToken"])
    assert rest["identityProviderConfigs"] == [ref("p2")] and "nextToken" not in rest
    pages = eks.get_paginator("list_identity_provider_configs").paginate(
        clusterName=cluster, PaginationConfig={"PageSize": 1})
    assert [c["name"] for p in pages for c in p["identityProviderConfigs"]] == ["p0", "p1", "p2"]


def test_a_cluster_is_updating_while_its_config_is_created(eks: Any, cluster: str) -> None:
    """The session server settles at once: the call reports InProgress, the next one Successful."""
    update = eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc())["update"]
    assert update["status"] == "InProgress"
    assert eks.describe_cluster(name=cluster)["cluster"]["status"] == "ACTIVE"


# validation


@pytest.mark.parametrize("issuer", [
    "http://idp.example.com", "idp.example.com", "https://", "https://idp.example.com?tenant=1",
    "https://idp.example.com/x#frag", "https://idp.example.com:notaport", "https://user@idp.example.com",
])
def test_issuer_url_rules(eks: Any, cluster: str, issuer: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(issuer=issuer))
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400) and "issuerUrl" in message


def test_issuer_url_may_have_a_path_and_port(eks: Any, cluster: str) -> None:
    eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(issuer="https://idp.example.com:8443/a/b"))


@pytest.mark.parametrize("member,value", [
    ("usernamePrefix", "system:"), ("usernamePrefix", "oidc:system:x"), ("groupsPrefix", "system:"),
])
def test_prefixes_cannot_contain_system(eks: Any, cluster: str, member: str, value: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(**{member: value}))
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400) and member in message and "system:" in message


@pytest.mark.parametrize("claims", [{"k" * 64: "v"}, {"k": "v" * 254}, {"k": ""}, {"": "v"}])
def test_required_claims_lengths(server: Server, cluster: str, claims: dict[str, str]) -> None:
    """Checked by the server too, not only by botocore's client-side validation."""
    unchecked = server.client("eks", config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as excinfo:
        unchecked.associate_identity_provider_config(clusterName=cluster, oidc=oidc(requiredClaims=claims))
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_required_claims_at_their_limits(eks: Any, cluster: str) -> None:
    eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(requiredClaims={"k" * 63: "v" * 253}))


@pytest.mark.parametrize("config", [
    {"identityProviderConfigName": "dev", "issuerUrl": ISSUER, "clientId": ""},
    {"identityProviderConfigName": "", "issuerUrl": ISSUER, "clientId": "c"},
    {"identityProviderConfigName": "a/b", "issuerUrl": ISSUER, "clientId": "c"},
])
def test_client_id_and_name_required(eks: Any, cluster: str, config: dict[str, str]) -> None:
    with pytest.raises(ClientError) as excinfo:
        eks.associate_identity_provider_config(clusterName=cluster, oidc=config)
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_duplicate_name_and_issuer(eks: Any, cluster: str) -> None:
    eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc())
    with pytest.raises(ClientError) as excinfo:
        eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(issuer="https://other.example.com"))
    assert error_of(excinfo)[::2] == ("ResourceInUseException", 409)
    with pytest.raises(ClientError) as excinfo:  # the same provider, even with another client ID
        eks.associate_identity_provider_config(clusterName=cluster, oidc={**oidc("dev2"), "clientId": "other"})
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400) and ISSUER in message


def test_the_same_client_request_token_is_idempotent(eks: Any, cluster: str) -> None:
    first = eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(), clientRequestToken="t1")
    again = eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(), clientRequestToken="t1")
    assert again["update"]["id"] == first["update"]["id"]


def test_the_eleventh_config(eks: Any, cluster: str) -> None:
    for i in range(10):
        eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(f"c{i}", f"{ISSUER}/{i}"))
    with pytest.raises(ClientError) as excinfo:
        eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc("c10", f"{ISSUER}/10"))
    assert error_of(excinfo)[::2] == ("ResourceLimitExceededException", 400)
    eks.disassociate_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("c0"))
    eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc("c10", f"{ISSUER}/10"))


def test_unknown_configs_and_clusters(eks: Any, cluster: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        eks.describe_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("nope"))
    assert error_of(excinfo) == (
        "ResourceNotFoundException", f"No config found for cluster: {cluster}, config type: oidc, config name: nope", 404)
    with pytest.raises(ClientError) as excinfo:
        eks.disassociate_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("nope"))
    assert error_of(excinfo) == (
        "InvalidRequestException", f"Identity provider config is not associated with cluster {cluster}", 400)
    eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc())
    with pytest.raises(ClientError) as excinfo:
        eks.describe_identity_provider_config(clusterName=cluster, identityProviderConfig={"type": "saml", "name": "dev"})
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    for call in (
        lambda: eks.associate_identity_provider_config(clusterName="no-such", oidc=oidc()),
        lambda: eks.describe_identity_provider_config(clusterName="no-such", identityProviderConfig=ref("dev")),
        lambda: eks.list_identity_provider_configs(clusterName="no-such"),
        lambda: eks.disassociate_identity_provider_config(clusterName="no-such", identityProviderConfig=ref("dev")),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo) == ("ResourceNotFoundException", "No cluster found for name: no-such.", 404)


# tags and cluster deletion


def test_tags_of_a_config(eks: Any, cluster: str) -> None:
    eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc(), tags={"a": "1"})
    arn = eks.describe_identity_provider_config(
        clusterName=cluster, identityProviderConfig=ref("dev"))["identityProviderConfig"]["oidc"]["identityProviderConfigArn"]
    eks.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    eks.untag_resource(resourceArn=arn, tagKeys=["a"])
    described = eks.describe_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("dev"))
    assert described["identityProviderConfig"]["oidc"]["tags"] == {"b": "2"}


def test_deleting_the_cluster_deletes_its_configs(eks: Any, server: Server) -> None:
    name = f"idp{next(_names)}"
    role = f"arn:aws:iam::{server.account()}:role/eks"
    eks.create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": ["s"]})
    eks.associate_identity_provider_config(clusterName=name, oidc=oidc(), tags={"a": "1"})
    arn = eks.describe_identity_provider_config(
        clusterName=name, identityProviderConfig=ref("dev"))["identityProviderConfig"]["oidc"]["identityProviderConfigArn"]
    eks.delete_cluster(name=name)
    with pytest.raises(ClientError) as excinfo:
        eks.list_tags_for_resource(resourceArn=arn)
    assert error_of(excinfo)[0] == "NotFoundException"
    eks.create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": ["s"]})
    assert eks.list_identity_provider_configs(clusterName=name)["identityProviderConfigs"] == []
    eks.delete_cluster(name=name)


# authorization


def test_policies_decide_on_issuer_and_config_arn(eks: Any, server: Server, cluster: str) -> None:
    iam = server.client("iam")
    user = f"idp-user-{next(_names)}"
    iam.create_user(UserName=user)
    statements = [
        {"Effect": "Allow", "Action": "eks:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "eks:AssociateIdentityProviderConfig", "Resource": "*",
         "Condition": {"StringLike": {"eks:issuerUrl": "https://evil.example.com*"}}},
        {"Effect": "Deny", "Action": "eks:DisassociateIdentityProviderConfig",
         "Resource": f"arn:aws:eks:us-east-1:{server.account()}:identityproviderconfig/{cluster}/oidc/keep/*"},
        {"Effect": "Deny", "Action": "eks:AssociateIdentityProviderConfig", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/owner": "mallory"}}},
    ]
    iam.put_user_policy(UserName=user, PolicyName="p",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = server.client("eks", key=(key["AccessKeyId"], key["SecretAccessKey"]))

    with pytest.raises(ClientError) as excinfo:
        as_user.associate_identity_provider_config(clusterName=cluster, oidc=oidc(issuer="https://evil.example.com/x"))
    assert error_of(excinfo)[::2] == ("AccessDeniedException", 403)
    with pytest.raises(ClientError) as excinfo:
        as_user.associate_identity_provider_config(clusterName=cluster, oidc=oidc(), tags={"owner": "mallory"})
    assert error_of(excinfo)[0] == "AccessDeniedException"
    as_user.associate_identity_provider_config(clusterName=cluster, oidc=oidc("keep"))
    as_user.associate_identity_provider_config(clusterName=cluster, oidc=oidc("drop", f"{ISSUER}/2"))
    with pytest.raises(ClientError) as excinfo:
        as_user.disassociate_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("keep"))
    assert error_of(excinfo)[0] == "AccessDeniedException"
    as_user.disassociate_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("drop"))
    assert [c["name"] for c in eks.list_identity_provider_configs(clusterName=cluster)["identityProviderConfigs"]] == [
        "keep"]


def test_a_denied_describe_names_the_config_arn(eks: Any, server: Server, cluster: str) -> None:
    iam = server.client("iam")
    user = f"idp-reader-{next(_names)}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "eks:ListIdentityProviderConfigs", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = server.client("eks", key=(key["AccessKeyId"], key["SecretAccessKey"]))
    eks.associate_identity_provider_config(clusterName=cluster, oidc=oidc())
    assert as_user.list_identity_provider_configs(clusterName=cluster)["identityProviderConfigs"] == [ref("dev")]
    with pytest.raises(ClientError) as excinfo:
        as_user.describe_identity_provider_config(clusterName=cluster, identityProviderConfig=ref("dev"))
    code, message, _ = error_of(excinfo)
    assert code == "AccessDeniedException" and f"identityproviderconfig/{cluster}/oidc/dev/" in message


# the AWS CLI


def aws(server: Server, *args: str, ok: bool = True) -> Any:
    result = subprocess.run(
        [str(BIN / "aws"), *args, "--output", "json"], env=server.cli_env(), capture_output=True, text=True, timeout=60
    )
    assert (result.returncode == 0) == ok, result.stderr
    return json.loads(result.stdout) if ok and result.stdout.strip() else result.stderr


def test_aws_cli_walkthrough(server: Server, cluster: str) -> None:
    associated = aws(server, "eks", "associate-identity-provider-config", "--cluster-name", cluster,
                     "--oidc", f"identityProviderConfigName=cli,issuerUrl={ISSUER},clientId=kubernetes,"
                     "groupsClaim=groups,requiredClaims={hd=example.com}", "--tags", "env=dev")
    assert associated["update"]["type"] == "AssociateIdentityProviderConfig" and associated["tags"] == {"env": "dev"}
    aws(server, "eks", "wait", "cluster-active", "--name", cluster)
    described = aws(server, "eks", "describe-identity-provider-config", "--cluster-name", cluster,
                    "--identity-provider-config", "type=oidc,name=cli")["identityProviderConfig"]["oidc"]
    assert described["status"] == "ACTIVE" and described["requiredClaims"] == {"hd": "example.com"}
    listed = aws(server, "eks", "list-identity-provider-configs", "--cluster-name", cluster)
    assert listed["identityProviderConfigs"] == [ref("cli")]
    aws(server, "eks", "disassociate-identity-provider-config", "--cluster-name", cluster,
        "--identity-provider-config", "type=oidc,name=cli")
    stderr = aws(server, "eks", "disassociate-identity-provider-config", "--cluster-name", cluster,
                 "--identity-provider-config", "type=oidc,name=cli", ok=False)
    assert "InvalidRequestException" in stderr and "is not associated with cluster" in stderr


# in-process: settle times, DELETING, busy clusters, snapshots

ACCOUNT = "111122223333"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slow(tmp_path: Path) -> tuple[IdentityProviderService, Clock, SnapshotRegistry]:
    clock = Clock()
    access = AccessService(Store(f"sqlite:///{tmp_path / 'k.db'}"), account=ACCOUNT, region="us-east-1",
                           settle_seconds=60, clock=clock)
    access.create_cluster(Caller.root(ACCOUNT), name="c", role_arn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                          spec={"resourcesVpcConfig": {"subnetIds": ["s"]}})
    clock.now += timedelta(minutes=5)
    return IdentityProviderService(access), clock, SnapshotRegistry(access.store)


def test_status_follows_the_settle_time(slow: tuple[IdentityProviderService, Clock, SnapshotRegistry]) -> None:
    service, clock, registry = slow
    update, _ = service.associate("c", oidc())
    assert service.describe("c", "oidc", "dev")[0].status(clock.now) is ConfigStatus.CREATING
    with pytest.raises(ResourceInUse, match=f"currently has update {update.id} in progress"):
        service.associate("c", oidc("other", "https://other.example.com"))
    snapshot = registry.snapshot("c")
    assert snapshot is not None and [c.name for c in snapshot.oidc_configs] == ["dev"]
    assert not snapshot.oidc_configs[0].authenticates(clock.now)
    clock.now += timedelta(seconds=61)
    assert snapshot.oidc_configs[0].authenticates(clock.now)

    revision = snapshot.revision
    service.disassociate("c", "oidc", "dev")
    snapshot = registry.snapshot("c")
    assert snapshot is not None and snapshot.revision > revision
    assert snapshot.oidc_configs[0].status(clock.now) is ConfigStatus.DELETING
    assert not snapshot.oidc_configs[0].authenticates(clock.now)
    assert service.describe("c", "oidc", "dev")[0].status(clock.now) is ConfigStatus.DELETING
    assert service.list("c", None, None) == (["dev"], None)
    with pytest.raises(InvalidRequest):  # already on its way out
        service.disassociate("c", "oidc", "dev")
    clock.now += timedelta(seconds=61)
    with pytest.raises(ResourceNotFound):
        service.describe("c", "oidc", "dev")
    assert service.list("c", None, None) == ([], None)
    with service.store.transaction() as tx:  # filtered on read, still stored until the next write
        assert len(tx.oidc_configs("c")) == 1
    service.associate("c", oidc("next", "https://next.example.com"))
    with service.store.transaction() as tx:
        assert [c.name for c in tx.oidc_configs("c")] == ["next"]
    snapshot = registry.snapshot("c")
    assert snapshot is not None and [c.name for c in snapshot.oidc_configs] == ["next"]
