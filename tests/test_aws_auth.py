"""aws-auth: parsing with AIA's quirks, matching and templating (iam-token.md §4, eks-access.md §7.1)."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.domain.aws_auth import (
    KEYS,
    AccountMapping,
    AwsAuth,
    AwsAuthError,
    CallerIdentity,
    KubernetesUser,
    RoleMapping,
    TemplateError,
    UserMapping,
    ec2_instance_id,
    kubernetes_user,
    needs_ec2_private_dns_name,
    parse_config_map,
    parse_config_map_yaml,
    render,
)

ACCOUNT = "111122223333"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksctl-prod-nodegroup-ng-1-NodeInstanceRole-1H4V8QX6Y1Z2A"

# As `kubectl get cm aws-auth -n kube-system -o yaml` prints what eksctl wrote (keys sorted, `|` blocks).
EKSCTL = f"""\
apiVersion: v1
data:
  mapAccounts: |
    - "{ACCOUNT}"
    - "444455556666"
  mapRoles: |
    - groups:
      - system:bootstrappers
      - system:nodes
      rolearn: {NODE_ROLE}
      username: system:node:{{{{EC2PrivateDNSName}}}}
    - groups:
      - system:masters
      rolearn: arn:aws:iam::{ACCOUNT}:role/Admin
      username: admin:{{{{SessionName}}}}
  mapUsers: |
    - groups:
      - system:masters
      userarn: arn:aws:iam::{ACCOUNT}:user/alice
      username: alice
kind: ConfigMap
metadata:
  creationTimestamp: "2024-05-01T10:00:00Z"
  name: aws-auth
  namespace: kube-system
  resourceVersion: "1234"
  uid: 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0
"""


def session(role: str, name: str, account: str = ACCOUNT) -> CallerIdentity:
    """An assumed-role caller as the verifier reports it (§2.2: STS ARNs never carry the role path)."""
    return CallerIdentity(arn=f"arn:aws:sts::{account}:assumed-role/{role}/{name}",
                          canonical_arn=f"arn:aws:iam::{account}:role/{role}", account=account,
                          user_id="AROAIIRR6I5NDJBWMIRQQ", session_name=name, access_key_id="ASIABCDEFGHIJKLMNOPQ")


def iam_user(path_and_name: str, account: str = ACCOUNT) -> CallerIdentity:
    arn = f"arn:aws:iam::{account}:user/{path_and_name}"
    return CallerIdentity(arn=arn, canonical_arn=arn, account=account, user_id="AIDAEXAMPLE",
                          session_name=None, access_key_id="AKIAEXAMPLE")


def data(**values: str) -> AwsAuth:
    return parse_config_map({key: textwrap.dedent(value) for key, value in values.items()})


def username_of(auth: AwsAuth, identity: CallerIdentity) -> str:
    """The username template of the explicit mapping that matches."""
    mapping = auth.match(identity)
    assert isinstance(mapping, (RoleMapping, UserMapping))
    return mapping.username


# ---------------------------------------------------------------- parsing


def test_eksctl_config_map() -> None:
    auth = parse_config_map_yaml(EKSCTL)
    assert auth.roles == (
        RoleMapping(NODE_ROLE, "system:node:{{EC2PrivateDNSName}}", ("system:bootstrappers", "system:nodes")),
        RoleMapping(f"arn:aws:iam::{ACCOUNT}:role/Admin", "admin:{{SessionName}}", ("system:masters",)),
    )
    assert auth.users == (UserMapping(f"arn:aws:iam::{ACCOUNT}:user/alice", "alice", ("system:masters",)),)
    assert auth.accounts == {ACCOUNT, "444455556666"}
    assert auth.roles[1].canonical_arn == f"arn:aws:iam::{ACCOUNT}:role/admin"
    assert auth.warnings == ()


def test_a_bare_data_mapping_and_the_data_dict_read_like_the_manifest() -> None:
    bare = textwrap.dedent(EKSCTL.split("data:\n")[1].split("kind:")[0])  # just the `data:` entries
    assert parse_config_map_yaml(bare) == parse_config_map(yaml.safe_load(bare)) == parse_config_map_yaml(EKSCTL)


def test_spec_example_eks_access_7_1() -> None:
    auth = data(mapRoles="""\
        - rolearn: arn:aws:iam::111122223333:role/my-node-role   # no path allowed
          username: system:node:{{EC2PrivateDNSName}}
          groups: [system:bootstrappers, system:nodes]
        """, mapUsers="""\
        - userarn: arn:aws:iam::111122223333:user/admin
          username: admin
          groups: [system:masters]
        """, mapAccounts="""\
        - "012345678901"
        """)
    assert [r.username for r in auth.roles] == ["system:node:{{EC2PrivateDNSName}}"]
    assert auth.users[0].groups == ("system:masters",)
    assert auth.accounts == {"012345678901"}


def test_top_level_keys_are_case_sensitive() -> None:
    """§4.1 / §7.1 #51 (yaml_test.go:71-78): `mapusers` is ignored, so the user is not mapped."""
    auth = parse_config_map({"mapusers": f"- userarn: arn:aws:iam::{ACCOUNT}:user/alice\n  username: alice\n"})
    assert auth.users == () and auth.match(iam_user("alice")) is None
    assert "case-sensitive" in auth.warnings[0]


@pytest.mark.parametrize("arn_key,username_key",
                         [("rOlEaRn", "UsErNaMe"), ("roleARN", "username"), ("ROLEARN", "USERNAME")])
def test_item_keys_are_case_insensitive(arn_key: str, username_key: str) -> None:
    """§4.1, P14 (yaml_test.go:54-67): Go's encoding/json matches field names case-insensitively."""
    auth = data(mapRoles=f"- {arn_key}: arn:aws:iam::{ACCOUNT}:role/Dev\n  {username_key}: dev\n")
    assert auth.roles == (RoleMapping(f"arn:aws:iam::{ACCOUNT}:role/Dev", "dev"),)


@pytest.mark.parametrize("first,second", [("rolearn", "RoleArn"), ("RoleArn", "rolearn")])
def test_two_spellings_of_a_key_the_last_in_sorted_order_wins(first: str, second: str) -> None:
    """AIA turns YAML into JSON through a Go map, which marshals keys sorted; the decoder then sets
    the field once per spelling, so `rolearn` (after `RoleArn` in byte order) wins either way."""
    values = {"rolearn": f"arn:aws:iam::{ACCOUNT}:role/lower", "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/Upper"}
    auth = data(mapRoles=f"- {first}: {values[first]}\n  {second}: {values[second]}\n")
    assert auth.roles[0].rolearn.endswith("role/lower")


def test_unknown_fields_are_ignored() -> None:
    """§4.1: Go's JSON decoding drops unknown keys; `userid` is a DynamicFile field, inert here."""
    auth = data(mapRoles=f"""\
        - rolearn: arn:aws:iam::{ACCOUNT}:role/Dev
          userid: AROAEXAMPLE
          team: platform
          username: dev
        """)
    assert auth.roles == (RoleMapping(f"arn:aws:iam::{ACCOUNT}:role/Dev", "dev"),) and auth.warnings == ()


@pytest.mark.parametrize("empty", ["", "   \n", '""', "''", "``", "  ``  ", "~", "null", "# only a comment\n"])
def test_empty_values_mean_no_mappings(empty: str) -> None:
    """§4.1 "Empty values": empty, "", '' or a backtick pair are skipped (null decodes to nothing)."""
    auth = parse_config_map({key: empty for key in KEYS})
    assert auth == AwsAuth() and auth.warnings == ()


def test_a_role_item_needs_rolearn() -> None:
    """§4.1 Validate(): "one of rolearn or SSO must be supplied"; an empty string counts as missing."""
    text = f"- rolearn: arn:aws:iam::{ACCOUNT}:role/Dev\n  username: dev\n- rolearn: ''\n  username: nobody\n"
    with pytest.raises(AwsAuthError, match="one of rolearn or SSO must be supplied") as caught:
        parse_config_map({"mapRoles": text})
    assert caught.value.key == "mapRoles" and caught.value.line == 3
    lenient = parse_config_map({"mapRoles": text}, strict=False)  # "Only saving data that was good"
    assert [r.username for r in lenient.roles] == ["dev"] and "line 3" in lenient.warnings[0]


def test_a_user_item_needs_userarn() -> None:
    with pytest.raises(AwsAuthError, match="value for userarn must be supplied"):
        data(mapUsers="- username: alice\n  groups: [a]\n")


def test_sso_items() -> None:
    """AIA: exactly one of rolearn and sso; sso matching is behind a feature gate that is off."""
    sso = f"{{permissionSetName: Admin, accountID: '{ACCOUNT}'}}"
    with pytest.raises(AwsAuthError, match="only one of rolearn or SSO can be supplied"):
        data(mapRoles=f"- rolearn: arn:aws:iam::{ACCOUNT}:role/A\n  sso: {sso}\n")
    auth = data(mapRoles=f"- sso: {sso}\n  username: admin\n")
    assert auth.roles == () and "sso items are ignored" in auth.warnings[0]


def test_map_accounts_keep_their_literal_text() -> None:
    """§4.1: yaml.v2 into []string keeps unquoted numbers as written (PyYAML would read 0123456 as octal)."""
    auth = data(mapAccounts="- 012345678901\n- 0123456\n- '444455556666'\n- 555566667777\n")
    assert auth.accounts == {"012345678901", "0123456", "444455556666", "555566667777"}
    assert any("'0123456' is not a 12-digit account id" in w for w in auth.warnings)


def test_rolearn_with_a_path_is_kept_as_written_and_warned_about() -> None:
    """eks-access §7.1 "rolearn must be path-less"; §4.3: the ConfigMap backend does not canonicalise."""
    auth = data(mapRoles=f"- rolearn: arn:aws:iam::{ACCOUNT}:role/team/Dev\n  username: dev\n")
    assert auth.roles[0].canonical_arn == f"arn:aws:iam::{ACCOUNT}:role/team/dev"
    assert "cannot include a path" in auth.warnings[0]


def test_whitespace_inside_quotes_is_kept_but_plain_scalars_are_trimmed_by_yaml() -> None:
    """AIA never trims ARNs: a quoted ARN with a space never matches; YAML itself trims plain scalars."""
    auth = data(mapRoles=f'- rolearn: "arn:aws:iam::{ACCOUNT}:role/Dev "\n'
                         f"- rolearn: arn:aws:iam::{ACCOUNT}:role/Ops   \n")
    assert [r.rolearn for r in auth.roles] == [f"arn:aws:iam::{ACCOUNT}:role/Dev ", f"arn:aws:iam::{ACCOUNT}:role/Ops"]
    assert auth.match(session("Dev", "s")) is None and auth.match(session("Ops", "s")) is not None
    assert "whitespace" in auth.warnings[0]


def test_wildcards_match_literally() -> None:
    """EKS has no rolearn globbing (aws/containers-roadmap#474); AIA's PR #994 is not merged."""
    auth = data(mapRoles=f"- rolearn: arn:aws:iam::{ACCOUNT}:role/dev-*\n  username: dev\n")
    assert auth.match(session("dev-alice", "s")) is None and "wildcard" in auth.warnings[0]


def test_anchors_and_aliases_work_and_only_the_first_document_is_read() -> None:
    auth = data(mapRoles=f"""\
        - rolearn: arn:aws:iam::{ACCOUNT}:role/A
          groups: &admins [system:masters, ops]
        - rolearn: arn:aws:iam::{ACCOUNT}:role/B
          groups: *admins
        ---
        - rolearn: arn:aws:iam::{ACCOUNT}:role/C
        """)
    assert [r.groups for r in auth.roles] == [("system:masters", "ops")] * 2


def test_yaml_1_1_timestamps_stay_strings() -> None:
    """yaml.v2 keeps timestamp-looking scalars as strings when decoding into interface{}."""
    auth = data(mapUsers=f"- userarn: arn:aws:iam::{ACCOUNT}:user/a\n  groups: [2024-01-01]\n")
    assert auth.users[0].groups == ("2024-01-01",)


def test_missing_bar_makes_the_config_map_invalid() -> None:
    """§4.1 "Missing |" (yaml_test.go, aws-auth-missing-bar.yaml): a data value must be a string."""
    manifest = EKSCTL.replace("  mapRoles: |\n    - groups:", "  mapRoles:\n    - groups:")
    with pytest.raises(AwsAuthError, match=r"mapRoles, line 7: must be a string, not a list: write 'mapRoles: \|'"):
        parse_config_map_yaml(manifest)


@pytest.mark.parametrize("text,line,reason", [
    ("- rolearn: arn:aws:iam::1:role/a\n  username: [unclosed\n", 3, "invalid YAML"),
    ("- rolearn: a\n   username: b\n", 2, "invalid YAML: mapping values are not allowed here"),
    ("- rolearn: a\n\t- groups: b\n", 2, "invalid YAML"),
    ("- rolearn: a\x00\n", 1, "invalid YAML: unacceptable character #x0000"),
    ("- rolearn: *nowhere\n", 1, "invalid YAML: found undefined alias"),
])
def test_invalid_yaml_names_key_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(AwsAuthError) as caught:
        parse_config_map({"mapRoles": text})
    assert (caught.value.key, caught.value.line) == ("mapRoles", line)
    assert caught.value.message.startswith(f"aws-auth mapRoles, line {line}: {reason}")


def test_invalid_yaml_in_a_manifest_reports_the_manifest_line() -> None:
    manifest = EKSCTL.replace("      userarn: arn", "     userarn: arn")  # one space short, manifest line 19
    with pytest.raises(AwsAuthError, match=r"^aws-auth mapUsers, line 19: invalid YAML: while parsing") as caught:
        parse_config_map_yaml(manifest)
    assert caught.value.line is not None and EKSCTL.splitlines()[caught.value.line - 1].strip().startswith("userarn:")


@pytest.mark.parametrize("key,text,line,reason", [
    ("mapRoles", "rolearn: arn:aws:iam::1:role/a\nusername: a\n", 1, "must be a YAML list, not a mapping"),
    ("mapRoles", "just a string\n", 1, "must be a YAML list, not a string"),
    ("mapRoles", "- arn:aws:iam::1:role/a\n", 1, "each mapRoles item must be a mapping, not a string"),
    ("mapRoles", "- rolearn: arn:aws:iam::1:role/a\n  groups: system:masters\n", 2, "groups must be a list, not a"),
    ("mapRoles", "- rolearn: arn:aws:iam::1:role/a\n  groups: [a, {b: c}]\n", 2, "each group must be a string, not a"),
    ("mapRoles", "- rolearn: arn:aws:iam::1:role/a\n  username: 12345\n", 2, "username must be a string, not a number"),
    ("mapRoles", "- rolearn: arn:aws:iam::1:role/a\n  username: yes\n", 2, "username must be a string, not a boolean"),
    ("mapRoles", "- rolearn: arn:aws:iam::1:role/a\n  username: y\n", 2, "username must be a string, not a boolean"),
    ("mapRoles", "- rolearn: [arn:aws:iam::1:role/a]\n", 1, "rolearn must be a string, not a list"),
    ("mapRoles", "- rolearn: arn:aws:iam::1:role/a\n  username: {{SessionName}}\n", 2, "quote values that start with"),
    ("mapRoles", "- rolearn: arn:aws:iam::1:role/a\n  sso: Admin\n", 2, "sso must be a mapping, not a string"),
    ("mapRoles", "- &x {rolearn: arn:aws:iam::1:role/a}\n- <<: *x\n", 2, "merge keys (<<) are not supported"),
    ("mapUsers", "- userarn: arn:aws:iam::1:user/a\n  groups: [true]\n", 2, "each group must be a string, not a bool"),
    ("mapAccounts", "- {id: '111122223333'}\n", 1, "each mapAccounts item must be an account id, not a mapping"),
    ("mapAccounts", "'111122223333'\n", 1, "must be a YAML list, not a string"),
])
def test_wrong_types(key: str, text: str, line: int, reason: str) -> None:
    with pytest.raises(AwsAuthError) as caught:
        parse_config_map({key: text})
    assert (caught.value.key, caught.value.line) == (key, line)
    assert reason in caught.value.reason


def test_lenient_mode_keeps_what_aia_keeps() -> None:
    """AIA logs errors and saves the rest: a broken key is lost whole, a mistyped field is left empty
    (Go's UnmarshalTypeError), other keys are unaffected."""
    auth = parse_config_map({
        "mapRoles": f"- rolearn: arn:aws:iam::{ACCOUNT}:role/Admin\n  username: admin\n  groups: system:masters\n",
        "mapUsers": "- userarn: [broken\n",
        "mapAccounts": "- '444455556666'\n",
    }, strict=False)
    assert auth.roles == (RoleMapping(f"arn:aws:iam::{ACCOUNT}:role/Admin", "admin", ()),)
    assert auth.users == () and auth.accounts == {"444455556666"}
    assert [w.split(":")[0] for w in auth.warnings] == ["aws-auth mapRoles, line 3", "aws-auth mapUsers, line 2"]


@pytest.mark.parametrize("change,field", [
    (("kind: ConfigMap", "kind: Secret"), "kind"),
    (("apiVersion: v1", "apiVersion: v2"), "apiVersion"),
    (("name: aws-auth", "name: aws-auth-backup"), "metadata.name"),
    (("namespace: kube-system", "namespace: default"), "metadata.namespace"),
])
def test_only_kube_system_aws_auth_config_maps_are_accepted(change: tuple[str, str], field: str) -> None:
    """§4.1 watch scope: AIA reads only ConfigMap aws-auth in kube-system."""
    with pytest.raises(AwsAuthError, match="only ConfigMap kube-system/aws-auth") as caught:
        parse_config_map_yaml(EKSCTL.replace(*change))
    assert caught.value.key == field


@pytest.mark.parametrize("text", ["", "- a\n", "just text", "{a: [b",
                                  "kind: ConfigMap\nmetadata: {name: aws-auth}\ndata: [a]\n"])
def test_manifests_that_are_not_mappings_are_refused(text: str) -> None:
    with pytest.raises(AwsAuthError):
        parse_config_map_yaml(text)


def test_a_manifest_without_data_or_namespace_is_empty() -> None:
    assert parse_config_map_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n") == AwsAuth()


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(AwsAuthError, match="invalid YAML"):
        parse_config_map({"mapRoles": "[" * 5000})


# ---------------------------------------------------------------- matching


def test_a_role_session_matches_its_role() -> None:
    """P8: assumed-role/Admin/admin-session has canonical ARN role/Admin."""
    mapping = parse_config_map_yaml(EKSCTL).match(session("Admin", "admin-session"))
    assert isinstance(mapping, RoleMapping) and mapping.groups == ("system:masters",)


def test_matching_is_case_insensitive() -> None:
    """P14 (config/mapper_test.go): rolearn role/KubeAdmin matches canonical role/kubeadmin; checklist 46."""
    auth = data(mapRoles=f"- rolearn: arn:aws:iam::{ACCOUNT}:role/KubeAdmin\n  username: admin\n")
    assert auth.match(session("kubeadmin", "s")) == auth.roles[0]
    assert auth.match(session("KUBEADMIN", "s")) == auth.roles[0]
    assert auth.match(session("notKubeAdmin", "s")) is None


def test_role_paths() -> None:
    """§7.1 #45 (#268): a path in rolearn never matches the path-less canonical ARN of a session;
    the path-less rolearn matches the role whatever its path (STS drops it; §5.2 ambiguity)."""
    with_path = data(mapRoles=f"- rolearn: arn:aws:iam::{ACCOUNT}:role/team/Name\n  username: name\n")
    assert with_path.match(session("Name", "s")) is None
    without = data(mapRoles=f"- rolearn: arn:aws:iam::{ACCOUNT}:role/Name\n  username: name\n")
    caller = session("Name", "s")  # the role is really /team/Name; STS reports assumed-role/Name/s
    assert without.match(caller) == without.roles[0]


def test_last_duplicate_wins() -> None:
    """Checklist 46, §4.1 "Duplicate ARNs": the stores are maps keyed by the lower-cased ARN."""
    auth = data(mapRoles=f"""\
        - rolearn: arn:aws:iam::{ACCOUNT}:role/Dev
          username: first
        - rolearn: arn:aws:iam::{ACCOUNT}:role/dev
          username: second
        """, mapUsers=f"""\
        - userarn: arn:aws:iam::{ACCOUNT}:user/alice
          username: first
        - userarn: arn:aws:iam::{ACCOUNT}:user/alice
          username: second
        """)
    assert len(auth.roles) == 2  # both kept in order, for display
    assert username_of(auth, session("Dev", "s")) == username_of(auth, iam_user("alice")) == "second"
    assert sum("the last one wins" in w for w in auth.warnings) == 2


def test_user_arns_match_with_their_path() -> None:
    """IAM user ARNs are not canonicalised (§2.2), so the mapping needs the user's path."""
    auth = data(mapUsers=f"- userarn: arn:aws:iam::{ACCOUNT}:user/ops/Bob\n  username: bob\n")
    assert auth.match(iam_user("ops/bob")) == auth.users[0]
    assert auth.match(iam_user("bob")) is None


def test_federated_users_match_their_sts_arn() -> None:
    arn = f"arn:aws:sts::{ACCOUNT}:federated-user/Alice"
    caller = CallerIdentity(arn, arn, ACCOUNT, f"{ACCOUNT}:Alice")
    assert data(mapUsers=f"- userarn: {arn}\n  username: alice\n").match(caller) is not None


def test_map_accounts_fallback() -> None:
    """§4.4 step 4, P13 (server_test.go:678-808): username = canonical ARN, no groups, no templates."""
    auth = data(mapAccounts=f"- '{ACCOUNT}'\n")
    role_caller = session("Test", "s")
    mapping = auth.match(role_caller)
    assert mapping == AccountMapping(ACCOUNT) and not needs_ec2_private_dns_name(mapping)
    assert kubernetes_user(mapping, role_caller) == KubernetesUser(f"arn:aws:iam::{ACCOUNT}:role/Test", ())
    user_caller = iam_user("Test")
    assert auth.match(user_caller) == AccountMapping(ACCOUNT)
    assert kubernetes_user(AccountMapping(ACCOUNT), user_caller).username == f"arn:aws:iam::{ACCOUNT}:user/Test"
    assert auth.match(session("Test", "s", account="999999999999")) is None


def test_no_match() -> None:
    """§7.1 #44: no mapping and the account is not in mapAccounts."""
    assert parse_config_map_yaml(EKSCTL).match(session("Stranger", "s", account="999999999999")) is None
    assert AwsAuth().match(session("Admin", "s")) is None


def test_order_roles_then_users_then_accounts() -> None:
    """§4.4 and configmap/mapper.go: roles are tried before users with the same key, so an ARN under
    mapRoles wins over the same ARN under mapUsers (even a user's ARN); explicit beats mapAccounts."""
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    auth = data(mapRoles=f"- rolearn: {user_arn}\n  username: from-roles\n",
                mapUsers=f"- userarn: {user_arn}\n  username: from-users\n- userarn: arn:aws:iam::{ACCOUNT}:role/Ops\n"
                         f"  username: role-under-users\n",
                mapAccounts=f"- '{ACCOUNT}'\n")
    assert username_of(auth, iam_user("alice")) == "from-roles"
    assert username_of(auth, session("Ops", "s")) == "role-under-users"
    assert auth.match(session("Other", "s")) == AccountMapping(ACCOUNT)


# ---------------------------------------------------------------- templating


@pytest.mark.parametrize("template,expected", [
    ("a-{{SessionName}}-b", "a-jdoe-example.com-b"),                       # server_test.go:952-1030
    ("a-{{SessionNameRaw}}-b", "a-jdoe@example.com-b"),
    ("a-{{AccountID}}-{{SessionName}}-{{SessionNameRaw}}-b", f"a-{ACCOUNT}-jdoe-example.com-jdoe@example.com-b"),
    ("admin:{{SessionName}}", "admin:jdoe-example.com"),                  # P12
    ("aws:{{AccountID}}:instance:{{SessionName}}", f"aws:{ACCOUNT}:instance:jdoe-example.com"),
    ("admin:{{AccessKeyID}}", "admin:ASIABCDEFGHIJKLMNOPQ"),
    ("{{Unknown}}:{{sessionname}}", "{{Unknown}}:{{sessionname}}"),        # unknown text stays literal
    ("", ""),                                                             # no default username
])
def test_templates(template: str, expected: str) -> None:
    caller = session("Admin", "jdoe@example.com")
    assert render(template, [template], caller, ec2_private_dns_name=None) == KubernetesUser(expected, (expected,))


def test_ec2_private_dns_name() -> None:
    """P12: system:node:{{EC2PrivateDNSName}} with session i-0123456789abcdef0; groups too."""
    node = session("NodeRole", "i-0123456789abcdef0")
    user = render("system:node:{{EC2PrivateDNSName}}", ["nodes-{{EC2PrivateDNSName}}", "system:nodes"], node,
                  ec2_private_dns_name="ip-10-0-1-23.ec2.internal")
    assert user == KubernetesUser("system:node:ip-10-0-1-23.ec2.internal",
                                  ("nodes-ip-10-0-1-23.ec2.internal", "system:nodes"))


def test_ec2_private_dns_name_needs_an_instance_id_session() -> None:
    """§7.1 #46 (server.go:531-534): session `jdoe` is not an instance id → 403."""
    with pytest.raises(TemplateError, match="SessionName did not contain an instance id"):
        render("system:node:{{EC2PrivateDNSName}}", [], session("NodeRole", "jdoe"), ec2_private_dns_name="ip-x")
    with pytest.raises(TemplateError, match=r'rendering group template "g-\{\{EC2PrivateDNSName}}"'):
        render("x", ["g-{{EC2PrivateDNSName}}"], iam_user("bob"), ec2_private_dns_name="ip-x")


def test_ec2_private_dns_name_not_resolved_is_an_error() -> None:
    with pytest.raises(TemplateError, match="private DNS name of instance i-0123456789abcdef0 is not known"):
        render("system:node:{{EC2PrivateDNSName}}", [], session("NodeRole", "i-0123456789abcdef0"),
               ec2_private_dns_name=None)


@pytest.mark.parametrize("session_name,instance_id", [
    ("i-12345678", "i-12345678"), ("i-0123456789abcdef0", "i-0123456789abcdef0"),
    ("i-1234567", None), ("i-0123456789abcdef", None), ("i-0123456789abcdef0\n", None),
    ("i-１２３４５６７８", None), ("jdoe", None),
])
def test_instance_id_pattern(session_name: str, instance_id: str | None) -> None:
    """server.go:66-68 `^i-(\\w{8}|\\w{17})$`: Go's \\w is ASCII and `$` does not accept a trailing newline."""
    assert ec2_instance_id(session("NodeRole", session_name)) == instance_id


def test_needs_ec2_private_dns_name() -> None:
    roles = parse_config_map_yaml(EKSCTL).roles
    assert needs_ec2_private_dns_name(roles[0]) and not needs_ec2_private_dns_name(roles[1])


def test_iam_users_have_no_session_name() -> None:
    user = render("u-{{SessionName}}{{SessionNameRaw}}", [], iam_user("bob"), ec2_private_dns_name=None)
    assert user.username == "u-"


def test_kubernetes_user_for_an_eksctl_node() -> None:
    auth = parse_config_map_yaml(EKSCTL)
    node = session(NODE_ROLE.rsplit("/", 1)[1], "i-0123456789abcdef0")
    mapping = auth.match(node)
    assert mapping is not None and needs_ec2_private_dns_name(mapping)
    assert kubernetes_user(mapping, node, ec2_private_dns_name="ip-10-0-0-1.ec2.internal") == KubernetesUser(
        "system:node:ip-10-0-0-1.ec2.internal", ("system:bootstrappers", "system:nodes"))


# ---------------------------------------------------------------- robustness

# Text made of YAML punctuation and aws-auth words, to reach past the scanner into the node walk.
YAMLISH = st.lists(st.sampled_from(list("-:[]{}|>'\"#&*!%@`?,~ \n\tabyn01<") +
                                   ["rolearn", "userarn", "groups", "username", "sso", "\n- ", "\n  "])).map("".join)


@settings(max_examples=400)
@given(st.fixed_dictionaries({key: st.one_of(st.text(), YAMLISH) for key in KEYS}))
def test_parse_config_map_raises_only_aws_auth_errors(values: dict[str, str]) -> None:
    try:
        parse_config_map(values)
    except AwsAuthError as error:
        assert error.key in KEYS and error.message.startswith(f"aws-auth {error.key}")
    parse_config_map(values, strict=False)  # the lenient load never raises


@settings(max_examples=200)
@given(st.one_of(st.text(), YAMLISH))
def test_parse_config_map_yaml_raises_only_aws_auth_errors(text: str) -> None:
    try:
        parse_config_map_yaml(text)
    except AwsAuthError:
        pass
