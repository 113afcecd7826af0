"""eksctl's iamidentitymapping edits over aws-auth ``data`` (kubegate.domain.identity_mappings)."""

from __future__ import annotations

import pytest

from kubegate.domain.aws_auth import CallerIdentity, RoleMapping, UserMapping, parse_config_map
from kubegate.domain.identity_mappings import (
    IdentityMappingError,
    MappingRow,
    config_map_data,
    create_mapping,
    delete_mapping,
    describe_changes,
    mapping_rows,
    remaining_matches,
    select_rows,
)

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/nodes"
USER = f"arn:aws:iam::{ACCOUNT}:user/ops/admin"
ROLE_CASED = f"arn:aws:iam::{ACCOUNT}:role/CI"
NODE_ROLE_CASED = f"arn:aws:iam::{ACCOUNT}:role/Nodes"
NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"

MANIFEST = f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: aws-auth
  namespace: kube-system
data:
  mapRoles: |
    - rolearn: {NODE_ROLE}
      username: {NODE_USERNAME}
      groups: [system:bootstrappers, system:nodes]
  mapUsers: |
    - userarn: {USER}
      username: admin
      groups:
        - system:masters
  other: keep me
"""


def session(role: str) -> CallerIdentity:
    arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    return CallerIdentity(arn, arn, ACCOUNT, "AROAEXAMPLE", "s")


def base() -> dict[str, str]:
    return config_map_data(MANIFEST)


def create(data: dict[str, str], **kwargs: object) -> dict[str, str]:
    args: dict[str, object] = {"arn": None, "username": None, "groups": (), "account": None}
    args.update(kwargs)
    return create_mapping(data, **args)  # type: ignore[arg-type]


def test_config_map_data_reads_a_kubectl_manifest_and_a_bare_mapping() -> None:
    data = base()
    assert set(data) == {"mapRoles", "mapUsers", "other"}
    assert config_map_data("mapRoles: |\n  []\n") == {"mapRoles": "[]\n"}


@pytest.mark.parametrize("change", [("kind: ConfigMap", "kind: Secret"), ("name: aws-auth", "name: other"),
                                    ("namespace: kube-system", "namespace: default")])
def test_config_map_data_refuses_another_object(change: tuple[str, str]) -> None:
    with pytest.raises(IdentityMappingError, match="only ConfigMap kube-system/aws-auth"):
        config_map_data(MANIFEST.replace(*change))


def test_mapping_rows_lists_roles_users_then_accounts() -> None:
    data = create(base(), account=ACCOUNT)
    assert mapping_rows(data) == [
        MappingRow(NODE_ROLE, NODE_USERNAME, ("system:bootstrappers", "system:nodes"), "", "mapRoles"),
        MappingRow(USER, "admin", ("system:masters",), "", "mapUsers"),
        MappingRow("", "", (), ACCOUNT, "mapAccounts"),
    ]
    assert select_rows(mapping_rows(data), USER.upper()) == [mapping_rows(data)[1]]
    with pytest.raises(IdentityMappingError, match=f'no iamidentitymapping with arn "{ROLE}" found'):
        select_rows(mapping_rows(data), ROLE)


def test_create_role_user_and_account() -> None:
    data = base()
    data = create(data, arn=ROLE, username="ci", groups=["deployers"])
    data = create(data, arn=f"arn:aws:iam::{ACCOUNT}:user/bob", groups=["viewers"])
    data = create(data, account="444455556666")
    auth = parse_config_map(data, strict=True)
    assert auth.roles[-1] == RoleMapping(ROLE, "ci", ("deployers",))
    assert auth.users[-1] == UserMapping(f"arn:aws:iam::{ACCOUNT}:user/bob", "", ("viewers",))
    assert auth.accounts == {"444455556666"}
    assert data["other"] == "keep me"
    # eksctl's key order (sigs.k8s.io/yaml sorts keys) and omitempty
    assert data["mapRoles"].endswith(f"- groups:\n  - deployers\n  rolearn: {ROLE}\n  username: ci\n")
    assert f"userarn: arn:aws:iam::{ACCOUNT}:user/bob\n" in data["mapUsers"]
    assert "username" not in data["mapUsers"].split("user/bob")[1]


def test_create_leaves_the_input_and_other_keys_untouched() -> None:
    data = base()
    before = dict(data)
    result = create(data, arn=ROLE, groups=["g"])
    assert data == before
    assert result["mapUsers"] == before["mapUsers"] and result["other"] == before["other"]


def test_templates_survive_a_round_trip() -> None:
    data = create({}, arn=ROLE, username="{{SessionName}}", groups=["{{AccountID}}", "y", "123", "null"])
    assert "mapUsers" not in data
    mapping = parse_config_map(data, strict=True).roles[0]
    assert mapping == RoleMapping(ROLE, "{{SessionName}}", ("{{AccountID}}", "y", "123", "null"))
    again = create(data, arn=NODE_ROLE, username=NODE_USERNAME, groups=["system:nodes"])
    node = RoleMapping(NODE_ROLE, NODE_USERNAME, ("system:nodes",))
    assert parse_config_map(again, strict=True).roles == (mapping, node)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "expected a valid arn but got empty string"),
    ({"arn": ROLE}, "neither username nor group are set for iam identity"),
    ({"arn": ROLE, "account": ACCOUNT, "groups": ["g"]}, "account cannot be configured with any other options"),
    ({"account": ACCOUNT, "username": "u"}, "account cannot be configured with any other options"),
    ({"arn": f"arn:aws:iam::{ACCOUNT}:role/team/ci", "groups": ["g"]},
     f'aws-auth rolearn values cannot include a path .*use "{ROLE}" instead'),
    ({"arn": f"arn:aws:iam::{ACCOUNT}:group/devs", "groups": ["g"]}, "arn is neither user nor role"),
    ({"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/s", "groups": ["g"]}, "arn is neither user nor role"),
    ({"arn": "role/ci", "groups": ["g"]}, "arn: invalid prefix"),
    ({"arn": "arn:aws:iam::role/ci", "groups": ["g"]}, "arn: not enough sections"),
    ({"arn": "arn:aws:iam::1234:role/ci", "groups": ["g"]}, "is not an IAM role ARN"),
    ({"arn": f"arn:aws:s3::{ACCOUNT}:user/x", "groups": ["g"]}, "is not an IAM user ARN"),
    ({"account": "12345"}, "is not a 12-digit AWS account ID"),
])
def test_create_refusals(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(IdentityMappingError, match=message):
        create(base(), **kwargs)


def test_user_arn_with_path_is_fine() -> None:
    data = create(base(), arn=USER, username="admin2", groups=["g"])
    assert parse_config_map(data).users[-1].userarn == USER


def test_duplicates_are_appended_and_the_last_wins() -> None:
    data = create(base(), arn=NODE_ROLE_CASED, username="other", groups=["x"])
    auth = parse_config_map(data, strict=True)
    assert len(auth.roles) == 2
    assert auth.match(session("nodes")) == auth.roles[1]


def test_no_duplicate_arns() -> None:
    data = base()
    with pytest.raises(IdentityMappingError, match=f'found existing mapping with the same arn "{NODE_ROLE_CASED}" '
                                                   "and shadowing is disabled"):
        create(data, arn=NODE_ROLE_CASED, username="x", groups=["y"], no_duplicate_arns=True)
    # an identical mapping (groups in any order) is skipped, as eksctl does
    same = create(data, arn=NODE_ROLE, username=NODE_USERNAME, groups=["system:nodes", "system:bootstrappers"],
                  no_duplicate_arns=True)
    assert same == data
    assert create(data, arn=ROLE, groups=["g"], no_duplicate_arns=True)["mapRoles"] != data["mapRoles"]


def test_adding_an_account_twice_changes_nothing_and_keeps_them_sorted() -> None:
    data = create(create({}, account="999988887777"), account=ACCOUNT)
    assert [row.account for row in mapping_rows(data)] == [ACCOUNT, "999988887777"]
    assert create(data, account=ACCOUNT) == data


def test_invalid_data_is_refused_not_rewritten() -> None:
    bad = {"mapRoles": "- rolearn: arn:aws:iam::111122223333:role/a\n- username: nobody\n"}
    with pytest.raises(IdentityMappingError, match="one of rolearn or SSO must be supplied"):
        create(bad, arn=ROLE, groups=["g"])
    with pytest.raises(IdentityMappingError, match="one of rolearn or SSO"):
        delete_mapping(bad, arn="arn:aws:iam::111122223333:role/a", account=None)
    sso = {"mapRoles": "- sso: {permissionSetName: Admin, accountID: '111122223333'}\n  groups: [g]\n"}
    with pytest.raises(IdentityMappingError, match="sso"):
        create(sso, arn=ROLE, groups=["g"])


def test_delete_first_then_all() -> None:
    data = base()
    for username in ("a", "b"):
        data = create(data, arn=ROLE, username=username, groups=["g"])
    data = create(data, arn=ROLE_CASED, username="c", groups=["g"])
    first = delete_mapping(data, arn=ROLE, account=None)
    assert [r.username for r in parse_config_map(first).roles] == [NODE_USERNAME, "b", "c"]
    assert remaining_matches(first, arn=ROLE) == 2
    every = delete_mapping(data, arn=ROLE, account=None, all=True)
    node = RoleMapping(NODE_ROLE, NODE_USERNAME, ("system:bootstrappers", "system:nodes"))
    assert parse_config_map(every).roles == (node,)
    assert every["mapUsers"] == data["mapUsers"] and every["other"] == "keep me"


def test_delete_prefers_roles_and_empties_to_a_list() -> None:
    data = {"mapRoles": f"- rolearn: {ROLE}\n  groups: [r]\n", "mapUsers": f"- userarn: {ROLE}\n  groups: [u]\n"}
    once = delete_mapping(data, arn=ROLE, account=None)
    assert once["mapRoles"] == "[]\n" and once["mapUsers"] == data["mapUsers"]
    assert delete_mapping(data, arn=ROLE, account=None, all=True) == {"mapRoles": "[]\n", "mapUsers": "[]\n"}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"arn": ROLE, "account": None}, f'instance identity ARN "{ROLE}" not found in auth ConfigMap'),
    ({"arn": ROLE, "account": None, "all": True}, f'instance identity ARN "{ROLE}" not found in auth ConfigMap'),
    ({"arn": None, "account": ACCOUNT}, f'account "{ACCOUNT}" not found in auth ConfigMap'),
    ({"arn": None, "account": None}, "either --arn or --account must be set"),
    ({"arn": ROLE, "account": ACCOUNT}, "either --arn or --account must be set"),
])
def test_delete_refusals(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(IdentityMappingError, match=message):
        delete_mapping(base(), **kwargs)  # type: ignore[arg-type]


def test_delete_account() -> None:
    data = {"mapAccounts": f"- '{ACCOUNT}'\n- '999988887777'\n- '{ACCOUNT}'\n"}
    once = delete_mapping(data, arn=None, account=ACCOUNT)
    assert [r.account for r in mapping_rows(once)] == ["999988887777", ACCOUNT]
    assert delete_mapping(data, arn=None, account=ACCOUNT, all=True)["mapAccounts"] == "- '999988887777'\n"
    assert delete_mapping({"mapAccounts": f"- '{ACCOUNT}'\n"}, arn=None, account=ACCOUNT) == {"mapAccounts": "[]\n"}


def test_describe_changes() -> None:
    data = base()
    added = create(data, arn=ROLE, username="ci", groups=["deployers"])
    assert describe_changes(data, added) == [f"added mapRoles {ROLE} -> ci [deployers]"]
    assert describe_changes(added, data) == [f"removed mapRoles {ROLE} -> ci [deployers]"]
    shadowed = create(added, arn=ROLE, username="ci2", groups=["x", "y"])
    assert describe_changes(added, shadowed) == [
        f"changed mapRoles {ROLE}: username ci -> ci2, groups [deployers] -> [x, y]"]
    # removing the shadowed (first) duplicate changes nothing the authenticator does
    assert describe_changes(shadowed, delete_mapping(shadowed, arn=ROLE, account=None)) == []
    assert describe_changes(data, create(data, account=ACCOUNT)) == [f"added mapAccounts {ACCOUNT}"]
    removed_user = delete_mapping(data, arn=USER, account=None)
    assert describe_changes(data, removed_user) == [f"removed mapUsers {USER} -> admin [system:masters]"]
    reordered = {**data, "mapRoles": f"- groups: [system:nodes, system:bootstrappers]\n  rolearn: {NODE_ROLE_CASED}\n"
                                     f"  username: '{NODE_USERNAME}'\n"}
    assert describe_changes(data, reordered) == []
    assert describe_changes({}, {"mapRoles": f"- rolearn: {ROLE}\n"}) == [f'added mapRoles {ROLE} -> "" []']
