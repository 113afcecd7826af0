"""The pure domain: ARNs, modes, entry rules and scopes (no I/O, so plain calls)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubegate.domain.access_entries import EntryType, check_username, default_username, identity_for
from kubegate.domain.arns import PrincipalKind, parse_principal_arn
from kubegate.domain.errors import InvalidParameter
from kubegate.domain.modes import AuthenticationMode, check_transition
from kubegate.domain.pagination import decode_token, page
from kubegate.domain.policies import AccessScope, ScopeType, catalogue

ORDER = [AuthenticationMode.CONFIG_MAP, AuthenticationMode.API_AND_CONFIG_MAP, AuthenticationMode.API]


@pytest.mark.parametrize("current,new", list(itertools.product(ORDER, ORDER)))
def test_only_single_forward_steps_are_allowed(current: AuthenticationMode, new: AuthenticationMode) -> None:
    forward_one = ORDER.index(new) - ORDER.index(current) == 1
    if forward_one:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidParameter, match=f"from {current.value} to {new.value}$"):
            check_transition(current, new)


@pytest.mark.parametrize(
    "arn,kind,path,name",
    [
        ("arn:aws:iam::111122223333:role/dev", PrincipalKind.ROLE, "/", "dev"),
        ("arn:aws:iam::111122223333:role/a/b/dev", PrincipalKind.ROLE, "/a/b/", "dev"),
        ("arn:aws:iam::111122223333:user/alice@example.com", PrincipalKind.USER, "/", "alice@example.com"),
        ("arn:aws-cn:iam::111122223333:root", PrincipalKind.ROOT, "/", ""),
    ],
)
def test_principal_arns(arn: str, kind: PrincipalKind, path: str, name: str) -> None:
    principal = parse_principal_arn(arn)
    assert (principal.kind, principal.path, principal.name, principal.arn) == (kind, path, name, arn)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sts::111122223333:assumed-role/dev/alice",
        "arn:aws:iam::111122223333:group/admins",
        "arn:aws:iam::1111:role/dev",
        "arn:aws:iam:us-east-1:111122223333:role/dev",
        "arn:aws:iam::111122223333:role/",
        "arn:aws:iam::111122223333:role/bad name",
        "arn:nope:iam::111122223333:role/dev",
        "",
    ],
)
def test_non_principals_are_refused(arn: str) -> None:
    with pytest.raises(InvalidParameter, match="^The principalArn parameter format is not valid$"):
        parse_principal_arn(arn)


def test_role_default_username_drops_the_path() -> None:
    principal = parse_principal_arn("arn:aws:iam::111122223333:role/team/dev")
    assert principal.canonical_arn == "arn:aws:iam::111122223333:role/dev"
    assert default_username(principal, EntryType.STANDARD) == (
        "arn:aws:sts::111122223333:assumed-role/dev/{{SessionName}}"
    )


@pytest.mark.parametrize(
    "username,ok",
    [
        ("alice", True),
        (":john{{SessionName}}", True),
        ("jo:hn{{SessionName}}", True),
        ("jo:hn{{SessionNameRaw}}", True),
        ("john{{SessionName}}", False),
        ("john{{SessionNameRaw}}", False),
        ("system:admin", False),
        ("eks:x", False),
    ],
)
def test_username_rules(username: str, ok: bool) -> None:
    if ok:
        check_username(username)
    else:
        with pytest.raises(InvalidParameter):
            check_username(username)


def test_node_entries_must_be_roles_of_the_cluster_account() -> None:
    role = parse_principal_arn("arn:aws:iam::999999999999:role/nodes")
    with pytest.raises(InvalidParameter):
        identity_for(role, EntryType.EC2_LINUX, None, None, "111122223333")
    assert identity_for(role, EntryType.EC2_LINUX, None, None, "999999999999") == (
        "system:node:{{EC2PrivateDNSName}}", ("system:nodes",)
    )


def test_scopes() -> None:
    assert AccessScope.create("cluster", None) == AccessScope(ScopeType.CLUSTER)
    assert AccessScope.create("namespace", ["a", "dev-*", "a"]).namespaces == ("a", "dev-*")
    for bad in (("namespace", None), ("namespace", []), ("cluster", ["a"]), ("namespace", ["*"]),
                ("namespace", ["a*b"]), ("namespace", ["UPPER"])):
        with pytest.raises(InvalidParameter):
            AccessScope.create(*bad)


def test_catalogue_is_sorted_and_has_the_user_facing_policies() -> None:
    names = [p.name for p in catalogue().values()]
    assert names == sorted(names)
    cluster_admin = catalogue()["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"]
    assert cluster_admin.rules_public and any(r.non_resource_urls == ("*",) for r in cluster_admin.rules)
    auto_node = catalogue()["arn:aws:eks::aws:cluster-access-policy/AmazonEKSAutoNodePolicy"]
    assert not auto_node.rules_public


@given(st.lists(st.text(min_size=1, max_size=8), unique=True), st.integers(min_value=1, max_value=100))
def test_paging_visits_every_key_once_in_order(keys: list[str], size: int) -> None:
    keys = sorted(keys)
    seen: list[str] = []
    token: str | None = None
    while True:
        chunk, token = page(keys, size, token)
        assert len(chunk) <= size
        seen += chunk
        if token is None:
            break
    assert seen == keys


@given(st.text())
def test_forged_tokens_are_refused_cleanly(token: str) -> None:
    """Any string is either a position (a str) or an InvalidParameter, never another error."""
    try:
        assert isinstance(decode_token(token), str)
    except InvalidParameter as exc:
        assert exc.message == "The nextToken parameter is invalid"

