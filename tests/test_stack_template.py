"""Unit tests of the template engine (kubegate.stack_template), pinned to the spec's §4, §5 and §7."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from kubegate.stack_template import (
    RESOURCE_TYPES,
    UNKNOWN,
    CapabilitiesRequired,
    Context,
    Evaluation,
    ParameterInput,
    PropertyChange,
    PropertyError,
    ResourceValues,
    TemplateError,
    bind,
    check,
    check_capabilities,
    generated_name,
    parse,
    required_capabilities,
    summary,
    update_kind,
    validate_properties,
)

CONTEXT = Context(
    account="111122223333",
    region="eu-west-1",
    stack_name="demo",
    stack_id="arn:aws:cloudformation:eu-west-1:111122223333:stack/demo/0000",
)

ROLE = """
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: 2012-10-17
        Statement:
          - Effect: Allow
            Principal: {Service: eks.amazonaws.com}
            Action: sts:AssumeRole
"""


def evaluate(body: str, **given: str) -> Evaluation:
    template = parse(body)
    check(template)
    values = bind(template, {k: ParameterInput(v) for k, v in given.items()})
    return Evaluation(template, values, CONTEXT)


def template_error(body: str, **given: str) -> str:
    with pytest.raises(TemplateError) as caught:
        evaluate(body, **given)
    return caught.value.message


def lookup_of(values: Mapping[str, ResourceValues]) -> Any:
    return values.get


# --- parsing (items 34, 35) -----------------------------------------------------------------------


def test_unquoted_date_stays_a_string() -> None:
    template = parse("AWSTemplateFormatVersion: 2010-09-09\nResources:" + ROLE)
    document = template.resources["Role"].properties["AssumeRolePolicyDocument"]
    assert document["Version"] == "2012-10-17"
    assert template.version == "2010-09-09"


def test_yes_and_no_are_booleans() -> None:
    template = parse("Resources:\n  A:\n    Type: T\n    Properties: {X: yes, Y: No, Z: 'yes'}\n")
    assert template.resources["A"].properties == {"X": True, "Y": False, "Z": "yes"}


def test_bad_json_reports_line_and_column() -> None:
    with pytest.raises(TemplateError) as caught:
        parse('{"Resources": {"A": {"Type": }}}')
    assert caught.value.message == "Template format error: JSON not well-formed. (line 1, column 30)"


def test_bad_yaml() -> None:
    with pytest.raises(TemplateError) as caught:
        parse("Resources: [unclosed\n")
    assert caught.value.message == "Template format error: YAML not well-formed."


def test_missing_resources() -> None:
    with pytest.raises(TemplateError) as caught:
        parse("Description: nothing\n")
    assert caught.value.message == "Template format error: At least one Resources member must be defined."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Resources:\n  A: {Properties: {}}\n",
         "Template format error: [/Resources/A] Every Resources object must contain a Type member."),
        ("Resources:\n  A: {Type: T, Propertes: {}}\n", "Invalid template resource property 'Propertes'"),
        ("Resources:\n  A-b: {Type: T}\n", "Template format error: Resource name A-b is non alphanumeric."),
        ("Foo: 1\nResources:\n  A: {Type: T}\n", "Template format error: Invalid template property or properties [Foo]"),
        ("Parameters:\n  P: {Type: Strin}\nResources:\n  A: {Type: T}\n",
         "Template format error: Unrecognized parameter type: Strin"),
        ("Resources:\n  A: {Type: T}\nOutputs:\n  O: {Value: null}\n",
         "Template format error: [/Outputs/O/Value] 'null' values are not allowed in templates"),
        ("Resources:\n  A: {Type: T, DeletionPolicy: Snapshot}\n",
         "Template format error: Unrecognized DeletionPolicy Snapshot for resource A"),
    ],
)
def test_structure_errors(body: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(body)
    assert caught.value.message == message


def test_short_tags() -> None:
    template = parse(
        "Resources:\n  A:\n    Type: T\n    Properties:\n"
        "      R: !Ref X\n      G: !GetAtt Res.Attr.Deep\n      S: !Sub '${X}'\n"
        "      C: !Condition C\n      J: !Join [',', [a, b]]\n"
    )
    assert template.resources["A"].properties == {
        "R": {"Ref": "X"},
        "G": {"Fn::GetAtt": ["Res", "Attr.Deep"]},
        "S": {"Fn::Sub": "${X}"},
        "C": {"Condition": "C"},
        "J": {"Fn::Join": [",", ["a", "b"]]},
    }


def test_parameter_defaults_become_strings() -> None:
    template = parse(
        "Parameters:\n  N: {Type: Number, Default: 3600}\n  L: {Type: CommaDelimitedList, Default: [a, b]}\n"
        "  B: {Type: String, Default: true}\nResources:\n  A: {Type: T}\n"
    )
    assert [p.default for p in template.parameters.values()] == ["3600", "a,b", "true"]


def test_policies_default_to_delete() -> None:
    template = parse("Resources:\n  A: {Type: T}\n  B: {Type: T, DeletionPolicy: Retain, UpdateReplacePolicy: Retain}\n")
    assert template.resources["A"].deletion_policy == "Delete"
    assert template.resources["B"].deletion_policy == "Retain"
    assert template.resources["B"].update_replace_policy == "Retain"


# --- static checks (item 29, 30) ----------------------------------------------------------------


def check_error(body: str) -> str:
    with pytest.raises(TemplateError) as caught:
        check(parse(body))
    return caught.value.message


def test_unrecognized_resource_types_are_all_listed() -> None:
    body = "Resources:\n  A: {Type: AWS::S3::Bucket}\n  B: {Type: AWS::EC2::VPC}\n" + ROLE
    assert check_error(body) == "Template format error: Unrecognized resource types: [AWS::EC2::VPC, AWS::S3::Bucket]"


def test_unresolved_ref_in_resources_and_outputs() -> None:
    body = "Resources:" + ROLE + "      Path: !Ref Nope\n"
    assert check_error(body) == (
        "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"
    )
    body = "Resources:" + ROLE + "Outputs:\n  O: {Value: !Ref Gone}\n"
    assert check_error(body) == (
        "Template format error: Unresolved resource dependencies [Gone] in the Outputs block of the template"
    )


def test_getatt_errors() -> None:
    assert check_error("Resources:" + ROLE + "Outputs:\n  O: {Value: !GetAtt Nope.Arn}\n") == (
        "Template error: instance of Fn::GetAtt references undefined resource Nope"
    )
    assert check_error("Resources:" + ROLE + "Outputs:\n  O: {Value: !GetAtt Role.Endpoint}\n") == (
        "Template error: resource Role does not support attribute type Endpoint in Fn::GetAtt"
    )
    assert check_error("Resources:" + ROLE + "Outputs:\n  O: {Value: {'Fn::GetAtt': [Role]}}\n") == (
        "Template error: every Fn::GetAtt object requires two non-empty parameters, "
        "the resource name and the resource attribute"
    )


def test_mutual_depends_on_is_a_cycle() -> None:
    body = (
        "Resources:\n"
        "  B:\n    Type: AWS::IAM::User\n    DependsOn: A\n"
        "  A:\n    Type: AWS::IAM::User\n    DependsOn: B\n"
        "  C:\n    Type: AWS::IAM::User\n"
    )
    assert check_error(body) == "Circular dependency between resources: [A, B]"


def test_undefined_condition_in_if() -> None:
    body = "Resources:" + ROLE + "      Path: !If [Missing, /a/, /b/]\n"
    assert check_error(body) == "Template error: unresolved condition dependency Missing in Fn::If"


def test_condition_cannot_reference_a_resource() -> None:
    body = "Conditions:\n  C: !Equals [!Ref Role, x]\nResources:" + ROLE
    assert "Cannot reference resources in the Conditions block" in check_error(body)


def test_unsupported_function() -> None:
    body = "Resources:" + ROLE + "      Path: !Cidr [a, 1, 2]\n"
    assert check_error(body) == "Template format error: Unsupported function Fn::Cidr"


@pytest.mark.parametrize(
    ("expression", "start"),
    [
        ("!Join [',']", "Template error: every Fn::Join object requires two parameters"),
        ("!Select [5, [a, b]]", "Template error: Fn::Select requires a list argument"),
        ("!Split [',']", "Template error: every Fn::Split object requires two parameters"),
    ],
)
def test_malformed_intrinsics(expression: str, start: str) -> None:
    assert check_error("Resources:" + ROLE + f"      Path: {expression}\n").startswith(start)


def test_equals_shape() -> None:
    body = "Conditions:\n  C: !Equals [a]\nResources:" + ROLE
    assert check_error(body) == "Template error: every Fn::Equals object requires a list of 2 string parameters."


# --- capabilities (items 9, 10) -------------------------------------------------------------------


def test_unnamed_role_needs_capability_iam() -> None:
    template = parse("Resources:" + ROLE)
    assert required_capabilities(template) == ("CAPABILITY_IAM", ("AWS::IAM::Role",))
    with pytest.raises(CapabilitiesRequired) as caught:
        check_capabilities(template, [])
    assert caught.value.capability == "CAPABILITY_IAM"
    assert caught.value.message == "Requires capabilities : [CAPABILITY_IAM]"
    check_capabilities(template, ["CAPABILITY_IAM"])
    check_capabilities(template, ["CAPABILITY_NAMED_IAM"])


def test_named_role_needs_named_iam() -> None:
    template = parse("Parameters:\n  N: {Type: String}\nResources:" + ROLE + "      RoleName: !Ref N\n")
    with pytest.raises(CapabilitiesRequired) as caught:
        check_capabilities(template, ["CAPABILITY_IAM"])
    assert caught.value.message == "Requires capabilities : [CAPABILITY_NAMED_IAM]"
    check_capabilities(template, ["CAPABILITY_NAMED_IAM"])


def test_policy_name_and_eks_need_no_named_capability() -> None:
    body = (
        "Resources:\n  P:\n    Type: AWS::IAM::Policy\n    Properties: {PolicyName: p, PolicyDocument: {}}\n"
        "  O:\n    Type: AWS::IAM::OIDCProvider\n    Properties: {Url: 'https://x'}\n"
    )
    assert required_capabilities(parse(body)) == ("CAPABILITY_IAM", ("AWS::IAM::Policy",))
    assert required_capabilities(parse("Resources:\n  E: {Type: AWS::EKS::Cluster}\n")) == (None, ())


def test_summary() -> None:
    body = (
        "Description: demo\nParameters:\n"
        "  Env: {Type: String, Default: dev, AllowedValues: [dev, prod], Description: where}\n"
        "  Secret: {Type: String, NoEcho: true}\n"
        "Resources:" + ROLE + "  Role2:\n    Type: AWS::IAM::Role\n    Properties: {AssumeRolePolicyDocument: {}}\n"
    )
    result = summary(parse(body))
    assert result.parameters == [
        {"ParameterKey": "Env", "DefaultValue": "dev", "ParameterType": "String", "NoEcho": False,
         "Description": "where", "ParameterConstraints": {"AllowedValues": ["dev", "prod"]}},
        {"ParameterKey": "Secret", "ParameterType": "String", "NoEcho": True},
    ]
    assert result.description == "demo"
    assert result.capabilities == ["CAPABILITY_IAM"]
    assert result.capabilities_reason == "The following resource(s) require capabilities: [AWS::IAM::Role]"
    assert result.resource_types == ["AWS::IAM::Role"]
    assert result.version is None


# --- parameters (item 33) -------------------------------------------------------------------------


PARAMETERS = """
Parameters:
  A: {Type: String}
  B: {Type: Number}
  C: {Type: String, Default: x, AllowedValues: [x, y]}
  D: {Type: String, Default: abc, AllowedPattern: '[a-z]+', MinLength: 2, MaxLength: 5}
  E: {Type: Number, Default: 5, MinValue: 1, MaxValue: 10}
  F: {Type: CommaDelimitedList, Default: 'a, b ,c'}
  G: {Type: 'List<AWS::EC2::Subnet::Id>', Default: 'subnet-1,subnet-2', NoEcho: true}
Resources:
  R: {Type: AWS::EKS::Cluster}
"""


def bind_error(given: Mapping[str, ParameterInput], previous: Mapping[str, str] | None = None) -> str:
    with pytest.raises(TemplateError) as caught:
        bind(parse(PARAMETERS), given, previous)
    return caught.value.message


def test_missing_parameters() -> None:
    assert bind_error({}) == "Parameters: [A, B] must have values"
    assert bind_error({"B": ParameterInput("1")}) == "Parameters: [A] must have values"


def test_number_parameter() -> None:
    assert bind_error({"A": ParameterInput("a"), "B": ParameterInput("abc")}) == "Parameter 'B' must be a number."


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("C", "z", "Parameter 'C' must be one of AllowedValues"),
        ("D", "AB", "Parameter 'D' must match pattern [a-z]+"),
        ("D", "a", "Parameter 'D' must contain at least 2 characters"),
        ("D", "abcdef", "Parameter 'D' must contain at most 5 characters"),
        ("E", "0", "Parameter 'E' must be a number not less than 1"),
        ("E", "11", "Parameter 'E' must be a number not greater than 10"),
    ],
)
def test_parameter_constraints(name: str, value: str, message: str) -> None:
    given = {"A": ParameterInput("a"), "B": ParameterInput("1"), name: ParameterInput(value)}
    assert bind_error(given) == message


def test_constraint_description_replaces_the_message() -> None:
    template = parse(
        "Parameters:\n  P: {Type: String, AllowedPattern: '[0-9]+', ConstraintDescription: digits only}\n"
        "Resources:\n  R: {Type: T}\n"
    )
    with pytest.raises(TemplateError) as caught:
        bind(template, {"P": ParameterInput("x")})
    assert caught.value.message == "Parameter 'P' failed to satisfy constraint: digits only"


def test_unknown_parameter() -> None:
    given = {"A": ParameterInput("a"), "B": ParameterInput("1"), "Zed": ParameterInput("1")}
    assert bind_error(given) == "Parameters: [Zed] do not exist in the template"


def test_bound_values() -> None:
    values = bind(
        parse(PARAMETERS),
        {"A": ParameterInput(use_previous=True), "B": ParameterInput("2.5")},
        previous={"A": "old"},
    )
    assert values.ref("A") == "old"
    assert values.ref("B") == "2.5"
    assert values.ref("F") == ["a", "b", "c"]
    assert values.ref("G") == ["subnet-1", "subnet-2"]
    assert values.shown()[-1] == ("G", "****")
    assert [k for k, _ in values.shown()] == ["A", "B", "C", "D", "E", "F", "G"]


def test_use_previous_without_previous_value() -> None:
    assert bind_error({"A": ParameterInput(use_previous=True), "B": ParameterInput("1")}) == (
        "Parameters: [A] must have values"
    )


# --- evaluation (items 25, 26, 28, 31, 32) ---------------------------------------------------------

STACK = (
    "Parameters:\n  Prod: {Type: String, Default: 'no'}\n"
    "Conditions:\n  IsProd: !Equals [!Ref Prod, 'yes']\n"
    "Resources:" + ROLE + "      MaxSessionDuration: !If [IsProd, 7200, !Ref AWS::NoValue]\n"
    "  Cluster:\n    Type: AWS::EKS::Cluster\n    Properties:\n"
    "      RoleArn: !GetAtt Role.Arn\n      Name: !Sub '${AWS::StackName}-${Role.Arn}-${!Lit}'\n      ResourcesVpcConfig: {SubnetIds: [s1, s2]}\n"
    "  Entry:\n    Type: AWS::EKS::AccessEntry\n    Properties:\n"
    "      ClusterName: !Ref Cluster\n      PrincipalArn: !GetAtt Role.Arn\n"
    "  User:\n    Type: AWS::IAM::User\n    Condition: IsProd\n"
    "Outputs:\n  Endpoint: {Value: !GetAtt Cluster.Endpoint, Description: api, Export: {Name: !Sub '${AWS::StackName}-ep'}}\n"
    "  Azs: {Value: !GetAZs ''}\n  UserArn: {Value: !GetAtt User.Arn, Condition: IsProd}\n"
)

DEPLOYED = {
    "Role": ResourceValues("demo-Role-abc", {"Arn": "arn:aws:iam::111122223333:role/demo-Role-abc", "RoleId": "AROA1"}),
    "Cluster": ResourceValues("c1", {"Arn": "arn:c1", "Endpoint": "https://c1"}),
    "Entry": ResourceValues("c1|arn", {"AccessEntryArn": "arn:e"}),
}


def test_order_and_dependencies() -> None:
    evaluation = evaluate(STACK)
    assert evaluation.conditions == {"IsProd": False}
    assert evaluation.resources() == ["Role", "Cluster", "Entry"]
    assert evaluation.dependencies("Entry") == frozenset({"Role", "Cluster"})
    assert evaluation.dependencies("Role") == frozenset()


def test_order_puts_dependencies_first_whatever_the_template_order() -> None:
    body = (
        "Resources:\n  Entry:\n    Type: AWS::EKS::AccessEntry\n    Properties: {ClusterName: !Ref C, PrincipalArn: x}\n"
        "  Z:\n    Type: AWS::IAM::User\n"
        "  C:\n    Type: AWS::EKS::Cluster\n    DependsOn: [Z]\n"
    )
    assert evaluate(body).resources() == ["Z", "C", "Entry"]


def test_sub_novalue_and_getatt() -> None:
    evaluation = evaluate(STACK)
    role = evaluation.properties("Role", lookup_of(DEPLOYED))
    assert "MaxSessionDuration" not in role
    cluster = evaluation.properties("Cluster", lookup_of(DEPLOYED))
    assert cluster["Name"] == "demo-arn:aws:iam::111122223333:role/demo-Role-abc-${Lit}"
    assert evaluation.properties("Entry", lookup_of(DEPLOYED)) == {
        "ClusterName": "c1",
        "PrincipalArn": "arn:aws:iam::111122223333:role/demo-Role-abc",
    }


def test_true_condition_keeps_the_if_branch() -> None:
    evaluation = evaluate(STACK, Prod="yes")
    assert evaluation.properties("Role", lookup_of(DEPLOYED))["MaxSessionDuration"] == 7200
    assert "User" in evaluation.resources()


def test_unknown_before_deploy() -> None:
    evaluation = evaluate(STACK)
    props = evaluation.properties("Entry", lambda _: None)
    assert props == {"ClusterName": UNKNOWN, "PrincipalArn": UNKNOWN}
    assert evaluation.properties("Cluster", lambda _: None)["Name"] is UNKNOWN


def test_outputs() -> None:
    outputs = evaluate(STACK).outputs(lookup_of(DEPLOYED))
    assert [(o.key, o.value, o.description, o.export_name) for o in outputs] == [
        ("Endpoint", "https://c1", "api", "demo-ep"),
        ("Azs", "eu-west-1a,eu-west-1b,eu-west-1c", None, None),
    ]


def test_missing_attribute_of_a_deployed_resource() -> None:
    evaluation = evaluate(STACK)
    partial = {"Role": ResourceValues("r", {})}
    with pytest.raises(TemplateError) as caught:
        evaluation.properties("Cluster", lookup_of(partial))
    assert caught.value.message == "Template error: resource Role does not support attribute type Arn in Fn::GetAtt"


def test_ref_to_a_skipped_resource_is_unresolved() -> None:
    body = STACK.replace("      ClusterName: !Ref Cluster\n", "      ClusterName: !Ref User\n")
    assert template_error(body) == (
        "Template format error: Unresolved resource dependencies [User] in the Resources block of the template"
    )
    assert evaluate(body, Prod="yes").dependencies("Entry") == frozenset({"User", "Role"})


def test_output_of_a_skipped_resource_is_unresolved() -> None:
    body = STACK.replace(", Condition: IsProd}", "}")
    assert template_error(body) == (
        "Template format error: Unresolved resource dependencies [User] in the Outputs block of the template"
    )


def test_intrinsics() -> None:
    body = (
        "Parameters:\n  L: {Type: CommaDelimitedList, Default: 'a,b,c'}\n"
        "Mappings:\n  M: {eu-west-1: {Size: 3, Name: big}}\n"
        "Conditions:\n  Both: !And [!Equals [1, '1'], !Not [!Equals [!Ref 'AWS::Region', us-east-1]]]\n"
        "  Either: !Or [!Condition Both, !Equals [a, b]]\n"
        "Resources:\n  U:\n    Type: AWS::IAM::User\n    Properties:\n"
        "      Path: !Join ['-', !Ref L]\n"
        "      UserName: !Select [1, !Split [',', 'x,y,z']]\n"
        "      Groups: [!FindInMap [M, !Ref 'AWS::Region', Name], !Select ['2', !Ref L], !Base64 hi,"
        " !If [Either, !Ref 'AWS::NoValue', gone]]\n"
        "      PermissionsBoundary: !Sub ['${A}-${AWS::AccountId}-${AWS::Partition}', {A: !Ref 'AWS::URLSuffix'}]\n"
    )
    evaluation = evaluate(body)
    assert evaluation.conditions == {"Both": True, "Either": True}
    assert evaluation.properties("U", lambda _: None) == {
        "Path": "a-b-c",
        "UserName": "y",
        "Groups": ["big", "c", "aGk="],
        "PermissionsBoundary": "amazonaws.com-111122223333-aws",
    }


def test_find_in_map_miss() -> None:
    body = "Mappings:\n  M: {a: {b: c}}\nResources:\n  U:\n    Type: AWS::IAM::User\n    Properties: {Path: !FindInMap [M, a, x]}\n"
    with pytest.raises(TemplateError) as caught:
        evaluate(body).properties("U", lambda _: None)
    assert caught.value.message == "Template error: Unable to get mapping for M::a::x"


def test_deletion_policy() -> None:
    body = "Resources:\n  U: {Type: AWS::IAM::User, DeletionPolicy: Retain}\n"
    evaluation = evaluate(body)
    assert evaluation.deletion_policy("U") == "Retain"
    assert evaluation.update_replace_policy("U") == "Delete"


# --- resource types (items 22-24, 27) --------------------------------------------------------------


def test_validate_coerces_scalars() -> None:
    result = validate_properties(
        "Role", "AWS::IAM::Role",
        {"AssumeRolePolicyDocument": '{"Version": "2012-10-17"}', "MaxSessionDuration": "3600", "Description": 5},
    )
    assert result == {"AssumeRolePolicyDocument": {"Version": "2012-10-17"}, "MaxSessionDuration": 3600, "Description": "5"}
    cluster = validate_properties(
        "C", "AWS::EKS::Cluster",
        {"RoleArn": "r", "ResourcesVpcConfig": {"SubnetIds": ["s"], "EndpointPublicAccess": "true"},
         "Logging": {"ClusterLogging": {}}, "AccessConfig": {"BootstrapClusterCreatorAdminPermissions": True}},
    )
    assert cluster["ResourcesVpcConfig"]["EndpointPublicAccess"] is True
    assert validate_properties("U", "AWS::IAM::User", {"Path": True}) == {"Path": "true"}


@pytest.mark.parametrize(
    ("type_name", "properties", "message"),
    [
        ("AWS::IAM::Role", {}, "#: required key [AssumeRolePolicyDocument] not found"),
        ("AWS::IAM::User", {"Colour": "red"}, "#: extraneous key [Colour] is not permitted"),
        ("AWS::IAM::User", {"Path": ["a"]}, "#/Path: expected type: String, found: JSONArray"),
        ("AWS::EKS::AccessEntry", {"ClusterName": "c", "PrincipalArn": "p", "AccessPolicies": [{"AccessScope": {"Type": "cluster"}}]},
         "#/AccessPolicies/0: required key [PolicyArn] not found"),
        ("AWS::IAM::Role", {"AssumeRolePolicyDocument": {}, "MaxSessionDuration": "long"},
         "#/MaxSessionDuration: expected type: Integer, found: String"),
    ],
)
def test_property_errors(type_name: str, properties: dict[str, Any], message: str) -> None:
    with pytest.raises(PropertyError) as caught:
        validate_properties("Res", type_name, properties)
    assert caught.value.message == f"Properties validation failed for resource Res with message: {message}"


def test_every_type_is_described() -> None:
    assert sorted(RESOURCE_TYPES) == sorted(
        ["AWS::EKS::Cluster", "AWS::EKS::AccessEntry", "AWS::EKS::IdentityProviderConfig", "AWS::IAM::Role",
         "AWS::IAM::User", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::AccessKey",
         "AWS::IAM::OIDCProvider"]
    )
    assert RESOURCE_TYPES["AWS::IAM::Role"].generated_name_max == 64
    assert RESOURCE_TYPES["AWS::IAM::Policy"].name_property is None


ENTRY = {"ClusterName": "c", "PrincipalArn": "arn:a", "Username": "u", "KubernetesGroups": ["g"]}


def test_new_principal_replaces_the_access_entry() -> None:
    result = update_kind("AWS::EKS::AccessEntry", ENTRY, {**ENTRY, "PrincipalArn": "arn:b"})
    assert result.replacement == "True"
    assert result.details == (PropertyChange("PrincipalArn", "Always"),)


def test_username_groups_policies_update_in_place() -> None:
    new = {**ENTRY, "Username": "v", "KubernetesGroups": ["h"],
           "AccessPolicies": [{"PolicyArn": "p", "AccessScope": {"Type": "cluster"}}]}
    result = update_kind("AWS::EKS::AccessEntry", ENTRY, new)
    assert result.replacement == "False"
    assert [d.name for d in result.details] == ["Username", "KubernetesGroups", "AccessPolicies"]
    assert {d.requires_recreation for d in result.details} == {"Never"}
    assert update_kind("AWS::EKS::AccessEntry", ENTRY, dict(ENTRY)).details == ()


CLUSTER: dict[str, Any] = {"RoleArn": "r", "ResourcesVpcConfig": {"SubnetIds": ["a"]},
           "AccessConfig": {"AuthenticationMode": "CONFIG_MAP", "BootstrapClusterCreatorAdminPermissions": True}}


def test_bootstrap_permissions_replace_the_cluster_but_mode_does_not() -> None:
    bootstrap = {**CLUSTER, "AccessConfig": {**CLUSTER["AccessConfig"], "BootstrapClusterCreatorAdminPermissions": False}}
    assert update_kind("AWS::EKS::Cluster", CLUSTER, bootstrap).replacement == "True"
    assert update_kind("AWS::EKS::Cluster", CLUSTER, bootstrap).details == (PropertyChange("AccessConfig", "Always"),)
    mode = {**CLUSTER, "AccessConfig": {**CLUSTER["AccessConfig"], "AuthenticationMode": "API"}}
    assert update_kind("AWS::EKS::Cluster", CLUSTER, mode).details == (PropertyChange("AccessConfig", "Never"),)
    endpoint = {**CLUSTER, "ResourcesVpcConfig": {"SubnetIds": ["a"], "EndpointPublicAccess": False}}
    assert update_kind("AWS::EKS::Cluster", CLUSTER, endpoint).replacement == "False"
    subnets = {**CLUSTER, "ResourcesVpcConfig": {"SubnetIds": ["b"]}}
    assert update_kind("AWS::EKS::Cluster", CLUSTER, subnets).replacement == "True"


def test_unknown_value_counts_as_a_change() -> None:
    result = update_kind("AWS::EKS::AccessEntry", ENTRY, {**ENTRY, "ClusterName": UNKNOWN})
    assert result.details == (PropertyChange("ClusterName", "Always"),)
    result = update_kind("AWS::EKS::AccessEntry", ENTRY, {**ENTRY, "Username": UNKNOWN})
    assert result.replacement == "False" and len(result.details) == 1


def test_removed_property_is_a_change() -> None:
    old = {**ENTRY, "Type": "STANDARD"}
    assert update_kind("AWS::EKS::AccessEntry", old, ENTRY).details == (PropertyChange("Type", "Always"),)


def test_generated_role_name() -> None:
    name = generated_name("a-very-long-stack-name-for-testing-names", "ClusterAdminRoleWithALongLogicalId", 64,
                          random.Random(7))
    stack, logical, suffix = name[:25], name[26:51], name[52:]
    assert stack == "a-very-long-stack-name-fo" and name[25] == "-"
    assert logical == "ClusterAdminRoleWithALong" and name[51] == "-"
    assert len(suffix) == 12 and suffix.isalnum()
    assert len(name) == 64


def test_generated_name_lends_unused_room() -> None:
    name = generated_name("demo", "L" * 80, 64, random.Random(1))
    assert name.startswith("demo-" + "L" * 46 + "-") and len(name) == 64
    name = generated_name("S" * 80, "Role", 64, random.Random(1))
    assert name.startswith("S" * 46 + "-Role-") and len(name) == 64
    assert generated_name("s", "R", 64, random.Random(1)).startswith("s-R-")


# --- more edges -------------------------------------------------------------------------------------


def test_json_template_with_string_getatt() -> None:
    body = json.dumps({
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": "{}"}},
            "P": {"Type": "AWS::IAM::Policy", "Properties": {
                "PolicyName": "p", "PolicyDocument": {}, "Roles": [{"Ref": "Role"}]}},
        },
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": "Role.Arn"}, "Export": {"Name": "role-arn"}}},
    })
    evaluation = evaluate(body)
    assert evaluation.resources() == ["Role", "P"]
    deployed = {"Role": ResourceValues("r1", {"Arn": "arn:r1"})}
    assert evaluation.properties("P", lookup_of(deployed))["Roles"] == ["r1"]
    assert [(o.value, o.export_name) for o in evaluation.outputs(lookup_of(deployed))] == [("arn:r1", "role-arn")]


def test_depends_on_an_undefined_resource() -> None:
    body = "Resources:\n  U: {Type: AWS::IAM::User, DependsOn: [Ghost]}\n"
    assert check_error(body) == (
        "Template format error: Unresolved resource dependencies [Ghost] in the Resources block of the template"
    )


def test_unknown_propagates_through_intrinsics_but_lists_keep_their_shape() -> None:
    body = (
        "Resources:\n  A: {Type: AWS::IAM::User}\n  B:\n    Type: AWS::IAM::Policy\n    Properties:\n"
        "      PolicyName: !Join ['-', [x, !Ref A]]\n      PolicyDocument: {}\n"
        "      Users: [!Ref A, fixed]\n      Groups: !Split [',', !Sub '${A.Arn},y']\n"
        "      Roles: [!Select [0, [!GetAtt A.Arn]]]\n"
    )
    props = evaluate(body).properties("B", lambda _: None)
    assert props["PolicyName"] is UNKNOWN
    assert props["Users"] == [UNKNOWN, "fixed"]
    assert props["Groups"] is UNKNOWN
    assert props["Roles"] == [UNKNOWN]


def test_conditions_with_mappings_and_nesting() -> None:
    body = (
        "Parameters:\n  Env: {Type: String, Default: prod}\n"
        "Mappings:\n  Sizes: {prod: {Big: 'true'}, dev: {Big: 'false'}}\n"
        "Conditions:\n  Big: !Equals [!FindInMap [Sizes, !Ref Env, Big], 'true']\n"
        "  Small: !Not [!Condition Big]\n"
        "Resources:\n  A: {Type: AWS::IAM::User, Condition: Big}\n  B: {Type: AWS::IAM::User, Condition: Small}\n"
    )
    assert evaluate(body).resources() == ["A"]
    assert evaluate(body, Env="dev").resources() == ["B"]


def test_condition_cycle() -> None:
    body = "Conditions:\n  X: !Not [!Condition Y]\n  Y: !Not [!Condition X]\nResources:\n  A: {Type: AWS::IAM::User}\n"
    assert template_error(body) == "Template error: Circular dependency between conditions: [X, Y]"


def test_ref_to_a_parameter_in_a_condition_is_allowed_but_not_to_a_resource() -> None:
    body = "Conditions:\n  C: !Equals [!Ref A, x]\nResources:\n  A: {Type: AWS::IAM::User}\n"
    assert check_error(body) == (
        "Template format error: Unresolved dependencies [A]. Cannot reference resources in the Conditions block "
        "of the template"
    )
