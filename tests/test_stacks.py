"""Access as code: CloudFormation stacks on a real kubegate, driven by the AWS CLI and boto3.

Every check reads the result back through the EKS and IAM APIs, the way a user would verify it.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from conftest import Server, ensure_role, trust_policy

TEMPLATES = Path(__file__).parent / "stacks"
ACCESS = TEMPLATES / "access.yaml"
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
EDIT = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
FAST = {"Delay": 1, "MaxAttempts": 2}  # a waiter that must succeed on its first poll


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def aws(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["aws", *args], env=server.cli_env(), capture_output=True, text=True, timeout=120)


def error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return {**raised.value.response["Error"], "Status": raised.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def resource_events(cfn: Any, stack: str) -> list[tuple[str, str, str]]:
    """(logical id, status, reason) of every event, oldest first."""
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", "")) for e in reversed(events)]


def policies(eks: Any, cluster: str, principal: str) -> dict[str, tuple[str, tuple[str, ...], Any]]:
    found = eks.list_associated_access_policies(clusterName=cluster, principalArn=principal)
    return {p["policyArn"]: (p["accessScope"]["type"], tuple(p["accessScope"].get("namespaces", [])), p["modifiedAt"])
            for p in found["associatedAccessPolicies"]}


@pytest.fixture(scope="module")
def cfn(server: Server) -> Any:
    return server.client("cloudformation")


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


@pytest.fixture(scope="module")
def auditor(server: Server) -> str:
    return ensure_role(server, "auditor")


def test_cli_deploy_then_no_changes_then_one_scope(server: Server, cfn: Any, eks: Any, iam: Any, auditor: str) -> None:
    stack, cluster = unique("access"), unique("cfn")
    deploy = ("cloudformation", "deploy", "--template-file", str(ACCESS), "--stack-name", stack,
              "--capabilities", "CAPABILITY_NAMED_IAM")
    created = aws(server, *deploy, "--parameter-overrides", f"ClusterName={cluster}", "TeamNamespaces=team-a,team-b")
    assert created.returncode == 0, created.stderr
    assert f"Successfully created/updated stack - {stack}" in created.stdout

    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert outputs["ClusterArn"] == eks.describe_cluster(name=cluster)["cluster"]["arn"]
    developer = iam.get_role(RoleName=f"{stack}-developer")["Role"]["Arn"]
    admin = iam.get_role(RoleName=f"{stack}-admin")["Role"]["Arn"]
    assert outputs["DeveloperRoleArn"] == developer
    assert set(eks.list_access_entries(clusterName=cluster)["accessEntries"]) >= {admin, developer, auditor}
    assert policies(eks, cluster, developer)[EDIT][:2] == ("namespace", ("team-a", "team-b"))
    assert policies(eks, cluster, admin)[ADMIN][:2] == ("cluster", ())
    assert eks.describe_access_entry(clusterName=cluster, principalArn=auditor)["accessEntry"]["kubernetesGroups"] \
        == ["auditors"]

    # the same template and parameters again: the CLI's "no changes" change set
    again = aws(server, *deploy, "--no-fail-on-empty-changeset")
    assert again.returncode == 0, again.stderr
    assert f"No changes to deploy. Stack {stack} is up to date" in again.stdout
    strict = aws(server, *deploy)
    assert strict.returncode == 255  # AWS CLI v1 without --no-fail-on-empty-changeset, as against AWS
    assert f"No changes to deploy. Stack {stack} is up to date" in strict.stderr
    failed_sets = cfn.list_change_sets(StackName=stack)["Summaries"]
    assert [c["Status"] for c in failed_sets].count("FAILED") == 2
    assert all(c["ExecutionStatus"] == "UNAVAILABLE" for c in failed_sets if c["Status"] == "FAILED")

    # one scope changes: only that association is touched
    admin_before = policies(eks, cluster, admin)[ADMIN]
    events_before = len(cfn.describe_stack_events(StackName=stack)["StackEvents"])
    updated = aws(server, *deploy, "--parameter-overrides", "TeamNamespaces=team-a,team-c")
    assert updated.returncode == 0, updated.stderr
    assert policies(eks, cluster, developer)[EDIT][:2] == ("namespace", ("team-a", "team-c"))
    assert policies(eks, cluster, admin)[ADMIN] == admin_before
    new_events = resource_events(cfn, stack)[events_before:]
    assert [(lid, status) for lid, status, _ in new_events] == [
        (stack, "UPDATE_IN_PROGRESS"), ("DeveloperEntry", "UPDATE_IN_PROGRESS"), ("DeveloperEntry", "UPDATE_COMPLETE"),
        (stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"), (stack, "UPDATE_COMPLETE"),
    ]
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"

    deleted = aws(server, "cloudformation", "delete-stack", "--stack-name", stack)
    assert deleted.returncode == 0, deleted.stderr
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_cluster(name=cluster)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=f"{stack}-developer")


FAILING = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: eks.amazonaws.com}, Action: "sts:AssumeRole"}]}
  Entry:
    Type: AWS::EKS::AccessEntry
    Properties:
      ClusterName: CLUSTER
      PrincipalArn: !GetAtt Role.Arn
  BadEntry:
    Type: AWS::EKS::AccessEntry
    DependsOn: Entry
    Properties:
      ClusterName: CLUSTER
      PrincipalArn: AUDITOR
      KubernetesGroups: ["system:masters"]
"""


def make_cluster(eks: Any, name: str) -> None:
    eks.create_cluster(name=name, roleArn="arn:aws:iam::111122223333:role/eks", resourcesVpcConfig={"subnetIds": ["s-1"]},
                       accessConfig={"authenticationMode": "API"})


def test_failed_create_rolls_back_to_nothing(cfn: Any, eks: Any, iam: Any, auditor: str) -> None:
    stack, cluster = unique("failing"), unique("fail")
    make_cluster(eks, cluster)
    entries_before = set(eks.list_access_entries(clusterName=cluster)["accessEntries"])
    roles_before = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    refusal = error(eks.create_access_entry, clusterName=cluster, principalArn=auditor,
                    kubernetesGroups=["system:masters"])  # what EKS itself says
    body = FAILING.replace("CLUSTER", cluster).replace("AUDITOR", auditor)
    cfn.create_stack(StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])

    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "ROLLBACK_COMPLETE"
    events = resource_events(cfn, stack)
    statuses = [(lid, status) for lid, status, _ in events]
    assert statuses == [
        (stack, "CREATE_IN_PROGRESS"),
        ("Role", "CREATE_IN_PROGRESS"), ("Role", "CREATE_IN_PROGRESS"), ("Role", "CREATE_COMPLETE"),
        ("Entry", "CREATE_IN_PROGRESS"), ("Entry", "CREATE_IN_PROGRESS"), ("Entry", "CREATE_COMPLETE"),
        ("BadEntry", "CREATE_IN_PROGRESS"), ("BadEntry", "CREATE_FAILED"),
        (stack, "ROLLBACK_IN_PROGRESS"),
        ("Entry", "DELETE_IN_PROGRESS"), ("Entry", "DELETE_COMPLETE"),
        ("Role", "DELETE_IN_PROGRESS"), ("Role", "DELETE_COMPLETE"),
        (stack, "ROLLBACK_COMPLETE"),
    ]
    reason = dict(((lid, status), why) for lid, status, why in events)[("BadEntry", "CREATE_FAILED")]
    assert reason.startswith(f'Resource handler returned message: "{refusal["Message"]} (Service: Eks, Status Code: 400')
    assert "HandlerErrorCode: InvalidRequest" in reason
    assert dict(((lid, s), why) for lid, s, why in events)[(stack, "ROLLBACK_IN_PROGRESS")] == \
        "The following resource(s) failed to create: [BadEntry]. Rollback requested by user."
    # nothing of the operation is left
    assert set(eks.list_access_entries(clusterName=cluster)["accessEntries"]) == entries_before
    assert {r["RoleName"] for r in iam.list_roles()["Roles"]} == roles_before
    assert cfn.describe_stack_resources(StackName=stack)["StackResources"] == []

    # a ROLLBACK_COMPLETE stack can only be deleted
    refused = error(cfn.update_stack, StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    assert refused["Message"] == f"Stack:{described['StackId']} is in ROLLBACK_COMPLETE state and can not be updated."
    taken = error(cfn.create_stack, StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    assert (taken["Code"], taken["Message"]) == ("AlreadyExistsException", f"Stack [{stack}] already exists")
    cfn.delete_stack(StackName=stack)
    gone = error(cfn.describe_stacks, StackName=stack)
    assert gone["Message"] == f"Stack with id {stack} does not exist"
    by_arn = cfn.describe_stacks(StackName=described["StackId"])["Stacks"][0]
    assert by_arn["StackStatus"] == "DELETE_COMPLETE" and "DeletionTime" in by_arn


def test_disable_rollback_keeps_what_was_made(cfn: Any, eks: Any, auditor: str) -> None:
    stack, cluster = unique("kept"), unique("kept")
    make_cluster(eks, cluster)
    body = FAILING.replace("CLUSTER", cluster).replace("AUDITOR", auditor)
    cfn.create_stack(StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM"], DisableRollback=True)
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_FAILED"
    kept = {r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]}
    assert kept == {"Role", "Entry"}
    entries = eks.list_access_entries(clusterName=cluster)["accessEntries"]
    assert any(stack in e for e in entries)  # the entry of the stack's generated role is still there
    cfn.delete_stack(StackName=stack)
    assert not any(stack in e for e in eks.list_access_entries(clusterName=cluster)["accessEntries"])
    assert cfn.describe_stacks(StackName=described["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


RETAIN = """
Resources:
  Kept:
    Type: AWS::IAM::Role
    DeletionPolicy: Retain
    Properties:
      RoleName: KEPT
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: eks.amazonaws.com}, Action: "sts:AssumeRole"}]}
  Gone:
    Type: AWS::IAM::Role
    Properties:
      RoleName: GONE
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: eks.amazonaws.com}, Action: "sts:AssumeRole"}]}
"""


def test_delete_keeps_retained_resources(cfn: Any, iam: Any) -> None:
    stack = unique("retain")
    kept, gone = f"{stack}-kept", f"{stack}-gone"
    cfn.create_stack(StackName=stack, TemplateBody=RETAIN.replace("KEPT", kept).replace("GONE", gone),
                     Capabilities=["CAPABILITY_NAMED_IAM"])
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig=FAST)
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=FAST)
    assert iam.get_role(RoleName=kept)["Role"]["RoleName"] == kept
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=gone)
    arn = cfn.list_stacks()["StackSummaries"]
    stack_id = next(s["StackId"] for s in arn if s["StackName"] == stack)
    statuses = [(e[0], e[1]) for e in resource_events(cfn, stack_id)]
    assert ("Kept", "DELETE_SKIPPED") in statuses and ("Gone", "DELETE_COMPLETE") in statuses
    iam.delete_role(RoleName=kept)


ENTRY = """
Parameters:
  Principal: {Type: String}
  Namespace: {Type: String, Default: team-a}
Resources:
  Entry:
    Type: AWS::EKS::AccessEntry
    Properties:
      ClusterName: CLUSTER
      PrincipalArn: !Ref Principal
      AccessPolicies:
        - PolicyArn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy
          AccessScope: {Type: namespace, Namespaces: [!Ref Namespace]}
Outputs:
  Entry:
    Value: !GetAtt Entry.AccessEntryArn
"""


def test_change_sets_and_waiters(server: Server, cfn: Any, eks: Any, auditor: str) -> None:
    stack, cluster = unique("sets"), unique("sets")
    make_cluster(eks, cluster)
    body = ENTRY.replace("CLUSTER", cluster)
    created = cfn.create_change_set(StackName=stack, ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=body,
                                    Parameters=[{"ParameterKey": "Principal", "ParameterValue": auditor}])
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName=created["Id"], StackName=stack, WaiterConfig=FAST)
    first = cfn.describe_change_set(ChangeSetName="first", StackName=stack)
    assert (first["Status"], first["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    assert [c["ResourceChange"]["Action"] for c in first["Changes"]] == ["Add"]
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    summary_refused = error(cfn.get_template_summary, StackName=stack)
    assert summary_refused["Message"] == "GetTemplateSummary cannot be called on REVIEW_IN_PROGRESS stacks."

    cfn.execute_change_set(ChangeSetName=created["Id"])
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig=FAST)
    entry_arn = eks.describe_access_entry(clusterName=cluster, principalArn=auditor)["accessEntry"]["accessEntryArn"]
    stack_out = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert stack_out["Outputs"] == [{"OutputKey": "Entry", "OutputValue": entry_arn}]
    assert stack_out["ChangeSetId"] == created["Id"]
    executed = cfn.describe_change_set(ChangeSetName=created["Id"])
    assert executed["ExecutionStatus"] == "EXECUTE_COMPLETE"
    again = error(cfn.execute_change_set, ChangeSetName=created["Id"])
    assert again["Code"] == "InvalidChangeSetStatus"

    # a new namespace changes the entry in place; a new principal replaces it
    in_place = cfn.create_change_set(StackName=stack, ChangeSetName="scope", TemplateBody=body, Parameters=[
        {"ParameterKey": "Principal", "UsePreviousValue": True}, {"ParameterKey": "Namespace", "ParameterValue": "b"}])
    change = cfn.describe_change_set(ChangeSetName=in_place["Id"])["Changes"][0]["ResourceChange"]
    assert (change["Action"], change["Replacement"], change["PhysicalResourceId"]) == \
        ("Modify", "False", f"{auditor}|{cluster}")
    assert [d["Target"]["Name"] for d in change["Details"]] == ["AccessPolicies"]
    other = ensure_role(server, "auditor-two")
    replacing = cfn.create_change_set(StackName=stack, ChangeSetName="principal", TemplateBody=body,
                                      Parameters=[{"ParameterKey": "Principal", "ParameterValue": other}])
    change = cfn.describe_change_set(ChangeSetName=replacing["Id"])["Changes"][0]["ResourceChange"]
    assert (change["Action"], change["Replacement"]) == ("Modify", "True")
    assert {c["ChangeSetName"] for c in cfn.list_change_sets(StackName=stack)["Summaries"]} >= {"scope", "principal"}

    cfn.execute_change_set(ChangeSetName="principal", StackName=stack)
    cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)
    entries = set(eks.list_access_entries(clusterName=cluster)["accessEntries"])
    assert other in entries and auditor not in entries  # the new entry made, the old one cleaned up
    assert cfn.describe_change_set(ChangeSetName=in_place["Id"])["ExecutionStatus"] == "OBSOLETE"
    missing = error(cfn.describe_change_set, ChangeSetName=in_place["Id"].replace("changeSet/scope/", "changeSet/x/"))
    assert (missing["Code"], missing["Status"]) == ("ChangeSetNotFound", 404)
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=FAST)
    assert other not in eks.list_access_entries(clusterName=cluster)["accessEntries"]


UPDATE_FAILS = """
Parameters:
  Mode: {Type: String}
  Namespace: {Type: String}
Resources:
  Cluster:
    Type: AWS::EKS::Cluster
    Properties:
      Name: CLUSTER
      RoleArn: arn:aws:iam::111122223333:role/eks
      ResourcesVpcConfig: {SubnetIds: [s-1]}
      AccessConfig: {AuthenticationMode: !Ref Mode}
  Entry:
    Type: AWS::EKS::AccessEntry
    Properties:
      ClusterName: !Ref Cluster
      PrincipalArn: AUDITOR
      AccessPolicies:
        - PolicyArn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy
          AccessScope: {Type: namespace, Namespaces: [!Ref Namespace]}
"""


def test_failed_update_restores_the_old_state(cfn: Any, eks: Any, auditor: str) -> None:
    stack, cluster = unique("upd"), unique("upd")
    body = UPDATE_FAILS.replace("CLUSTER", cluster).replace("AUDITOR", auditor)

    def params(mode: str, namespace: str) -> list[dict[str, str]]:
        return [{"ParameterKey": "Mode", "ParameterValue": mode}, {"ParameterKey": "Namespace", "ParameterValue": namespace}]

    cfn.create_stack(StackName=stack, TemplateBody=body, Parameters=params("API_AND_CONFIG_MAP", "one"))
    # the cluster may not go back to CONFIG_MAP: the update fails at the cluster, before the entry
    cfn.update_stack(StackName=stack, TemplateBody=body, Parameters=params("CONFIG_MAP", "two"))
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    failed = [e for e in resource_events(cfn, stack) if e[1] == "UPDATE_FAILED"]
    assert [e[0] for e in failed] == ["Cluster"]
    assert "Service: Eks" in failed[0][2]
    assert eks.describe_cluster(name=cluster)["cluster"]["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    assert policies(eks, cluster, auditor)[VIEW][:2] == ("namespace", ("one",))
    assert described["Parameters"] == [{"ParameterKey": "Mode", "ParameterValue": "API_AND_CONFIG_MAP"},
                                       {"ParameterKey": "Namespace", "ParameterValue": "one"}]
    # UPDATE_ROLLBACK_COMPLETE accepts the next update
    cfn.update_stack(StackName=stack, TemplateBody=body, Parameters=params("API", "three"))
    cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)
    assert eks.describe_cluster(name=cluster)["cluster"]["accessConfig"]["authenticationMode"] == "API"
    assert policies(eks, cluster, auditor)[VIEW][:2] == ("namespace", ("three",))
    same = error(cfn.update_stack, StackName=stack, TemplateBody=body, Parameters=params("API", "three"))
    assert same["Message"] == "No updates are to be performed."
    cfn.delete_stack(StackName=stack)


def test_drift_of_access_entries(cfn: Any, eks: Any, auditor: str) -> None:
    stack, cluster = unique("drift"), unique("drift")
    make_cluster(eks, cluster)
    cfn.create_stack(StackName=stack, TemplateBody=ENTRY.replace("CLUSTER", cluster),
                     Parameters=[{"ParameterKey": "Principal", "ParameterValue": auditor}])

    def detect() -> tuple[str, list[dict[str, Any]]]:
        detection = cfn.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
        status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
        assert status["DetectionStatus"] == "DETECTION_COMPLETE"
        return status["StackDriftStatus"], cfn.describe_stack_resource_drifts(StackName=stack)["StackResourceDrifts"]

    status, drifts = detect()
    assert status == "IN_SYNC" and [d["StackResourceDriftStatus"] for d in drifts] == ["IN_SYNC"]
    eks.associate_access_policy(clusterName=cluster, principalArn=auditor, policyArn=VIEW,
                                accessScope={"type": "cluster"})  # widened outside the stack
    status, drifts = detect()
    assert status == "DRIFTED"
    assert drifts[0]["StackResourceDriftStatus"] == "MODIFIED"
    assert [d["PropertyPath"] for d in drifts[0]["PropertyDifferences"]] == ["/AccessPolicies"]
    assert '"cluster"' in drifts[0]["PropertyDifferences"][0]["ActualValue"]
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["DriftInformation"]["StackDriftStatus"] == "DRIFTED"
    eks.delete_access_entry(clusterName=cluster, principalArn=auditor)
    status, drifts = detect()
    assert drifts[0]["StackResourceDriftStatus"] == "DELETED"
    stack_id = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=stack)  # the entry is already gone: not an error
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


@pytest.mark.parametrize(("body", "code", "message"), [
    ('{"Resources": {', "ValidationError", re.compile(r"Template format error: JSON not well-formed\. \(line 1, column \d+\)")),
    ("Resources: [a\n", "ValidationError", re.compile(r"Template format error: YAML not well-formed\.")),
    ("Description: none\n", "ValidationError", "Template format error: At least one Resources member must be defined."),
    ("Resources:\n  B:\n    Type: AWS::S3::Bucket\n", "ValidationError",
     "Template format error: Unrecognized resource types: [AWS::S3::Bucket]"),
    ("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n      Colour: red\n",
     "ValidationError", "Properties validation failed for resource R with message: #: extraneous key [Colour] is not permitted"),
    ("Resources:\n  E:\n    Type: AWS::EKS::AccessEntry\n    Properties:\n      ClusterName: c\n      PrincipalArn: p\n"
     "      KubernetesGroups: admins\n", "ValidationError",
     "Properties validation failed for resource E with message: #/KubernetesGroups: expected type: JSONArray, found: String"),
    ("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n",
     "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]"),
    ("Parameters:\n  P: {Type: String}\nResources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n"
     "      AssumeRolePolicyDocument: {}\n      RoleName: !Ref P\n", "ValidationError", "Parameters: [P] must have values"),
    ("Parameters:\n  Env: {Type: String, Default: qa, AllowedValues: [dev, prod]}\nResources:\n  R:\n"
     "    Type: AWS::IAM::OIDCProvider\n    Properties: {Url: https://x.example}\n", "ValidationError",
     "Parameter 'Env' must be one of AllowedValues"),
    ("Resources:\n  A:\n    Type: AWS::IAM::OIDCProvider\n    DependsOn: B\n    Properties: {Url: https://a.example}\n"
     "  B:\n    Type: AWS::IAM::OIDCProvider\n    DependsOn: A\n    Properties: {Url: https://b.example}\n",
     "ValidationError", "Circular dependency between resources: [A, B]"),
    # a "billion laughs": nine levels of ten aliases each, in a few hundred bytes
    ("Metadata:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
     + "Resources:\n  R:\n    Type: AWS::IAM::OIDCProvider\n    Properties: {Url: https://x, ClientIdList: *i}\n",
     "ValidationError", "Template format error: YAML not well-formed."),
    ('{"Resources": {"R": {"Type": "AWS::IAM::OIDCProvider", "Properties": {"Url": ' + "[" * 5000 + "]" * 5000
     + "}}}}", "ValidationError", "Template format error: The template is nested more than 64 levels deep."),
    ("Resources:\n  A:\n    Type: AWS::IAM::OIDCProvider\n    Properties: {Url: !Ref Nowhere}\n", "ValidationError",
     "Template format error: Unresolved resource dependencies [Nowhere] in the Resources block of the template"),
    ("Resources:\n  A:\n    Type: AWS::IAM::OIDCProvider\n    Properties:\n      Url: https://a.example\n"
     "      ClientIdList: [" + ", ".join(["x" * 60] * 900) + "]\n", "ValidationError",
     re.compile(r"1 validation error detected: Value '.*' at 'templateBody' failed to satisfy constraint: "
                r"Member must have length less than or equal to 51200", re.S)),
])
def test_bad_templates_change_nothing(cfn: Any, iam: Any, body: str, code: str, message: Any) -> None:
    stack = unique("bad")
    roles_before = len(iam.list_roles()["Roles"])
    granted = {} if code == "InsufficientCapabilitiesException" else {"Capabilities": ["CAPABILITY_NAMED_IAM"]}
    for call, extra in ((cfn.create_stack, {}),
                        (cfn.create_change_set, {"ChangeSetName": "cs", "ChangeSetType": "CREATE"})):
        refused = error(call, StackName=stack, TemplateBody=body, **extra, **granted)
        assert refused["Code"] == code
        if isinstance(message, str):
            assert refused["Message"] == message
        else:
            assert message.fullmatch(refused["Message"]), refused["Message"]
    assert error(cfn.describe_stacks, StackName=stack)["Code"] == "ValidationError"
    assert stack not in {s["StackName"] for s in cfn.list_stacks()["StackSummaries"]}
    assert len(iam.list_roles()["Roles"]) == roles_before


def test_capabilities_and_template_summary(server: Server, cfn: Any, tmp_path: Path) -> None:
    named = ACCESS.read_text()
    summary = cfn.get_template_summary(TemplateBody=named)
    assert summary["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert summary["CapabilitiesReason"] == "The following resource(s) require capabilities: [AWS::IAM::Role]"
    assert [p["ParameterKey"] for p in summary["Parameters"]] == ["ClusterName", "TeamNamespaces", "Environment"]
    assert summary["ResourceTypes"] == ["AWS::EKS::Cluster", "AWS::IAM::Role", "AWS::EKS::AccessEntry"]
    validated = cfn.validate_template(TemplateBody=named)
    assert validated["Description"] == "Team access to one cluster, as code"
    only_iam = error(cfn.create_stack, StackName=unique("caps"), TemplateBody=named, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": "ClusterName", "ParameterValue": "x"}])
    assert (only_iam["Code"], only_iam["Message"]) == \
        ("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]")
    deploy = aws(server, "cloudformation", "deploy", "--template-file", str(ACCESS), "--stack-name", unique("caps"),
                 "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "ClusterName=caps")
    assert deploy.returncode == 255 and "CAPABILITY_NAMED_IAM" in deploy.stderr
    for refused_param in ({"RoleARN": "arn:aws:iam::111122223333:role/cfn"}, {"StackPolicyBody": "{}"},
                          {"TemplateURL": "https://bucket.example/t.yaml"}):
        args = {"StackName": unique("refused"), **refused_param}
        if "TemplateURL" not in refused_param:
            args["TemplateBody"] = ENTRY
        assert error(cfn.create_stack, **args)["Code"] == "ValidationError"


NOECHO = """
Parameters:
  Secret: {Type: String, NoEcho: true}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      Description: !Sub "token ${Secret}"
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: eks.amazonaws.com}, Action: "sts:AssumeRole"}]}
Outputs:
  Said:
    Value: !Sub "said ${Secret}"
"""


def test_no_echo_parameters_are_never_shown(cfn: Any) -> None:
    stack, secret = unique("noecho"), "hunter2-" + uuid.uuid4().hex
    cfn.create_stack(StackName=stack, TemplateBody=NOECHO, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": "Secret", "ParameterValue": secret}])
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert described["Parameters"] == [{"ParameterKey": "Secret", "ParameterValue": "****"}]
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    change = cfn.create_change_set(StackName=stack, ChangeSetName="again", TemplateBody=NOECHO,
                                   Capabilities=["CAPABILITY_IAM"],
                                   Parameters=[{"ParameterKey": "Secret", "UsePreviousValue": True}])
    shown = json.dumps([described, events, cfn.describe_change_set(ChangeSetName=change["Id"]),
                        cfn.get_template_summary(StackName=stack)], default=str)
    assert secret not in shown
    assert any("token ****" in (e.get("ResourceProperties") or "") for e in events)
    cfn.delete_stack(StackName=stack)


def test_provider_calls_run_as_the_caller(server: Server, cfn: Any, iam: Any, eks: Any, auditor: str) -> None:
    """Without a service role, the caller's own IAM policies decide each resource."""
    name, cluster = unique("cfn-user"), unique("perm")
    make_cluster(eks, cluster)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="stacks", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudformation:*", "iam:*", "eks:Describe*", "eks:List*"], "Resource": "*"},
        ]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    limited = server.client("cloudformation", key=(key["AccessKeyId"], key["SecretAccessKey"]))
    stack = unique("caller")
    body = FAILING.replace("CLUSTER", cluster).replace("AUDITOR", auditor)
    refused = error(limited.create_stack, StackName=stack, TemplateBody=body)
    assert refused["Code"] == "InsufficientCapabilitiesException"
    limited.create_stack(StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    assert limited.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [e for e in resource_events(limited, stack) if e[1] == "CREATE_FAILED"]
    assert failed[0][0] == "Entry"
    assert f"is not authorized to perform: eks:CreateAccessEntry" in failed[0][2]
    assert "AccessDenied" in failed[0][2]
    # and a caller without cloudformation permissions cannot even start
    iam.create_user(UserName=f"{name}-none")
    none_key = iam.create_access_key(UserName=f"{name}-none")["AccessKey"]
    nobody = server.client("cloudformation", key=(none_key["AccessKeyId"], none_key["SecretAccessKey"]))
    denied = error(nobody.describe_stacks, StackName=stack)
    assert (denied["Code"], denied["Status"]) == ("AccessDenied", 403)


def test_concurrent_operations_on_one_stack(tmp_path: Path, auditor: str) -> None:
    """With clusters that take two seconds to become ACTIVE, a second operation arrives mid-way."""
    slow = Server(tmp_path / "data", extra_args=("--settle-seconds", "2"))
    slow.start()
    try:
        cfn = slow.client("cloudformation")
        body = UPDATE_FAILS.replace("CLUSTER", "slow").replace("AUDITOR", slow.client("iam").create_role(
            RoleName="auditor", AssumeRolePolicyDocument=trust_policy(slow.account()))["Role"]["Arn"])
        params = [{"ParameterKey": "Mode", "ParameterValue": "API"}, {"ParameterKey": "Namespace", "ParameterValue": "a"}]
        results: dict[str, Any] = {}

        def first() -> None:
            results["create"] = cfn.create_stack(StackName="busy", TemplateBody=body, Parameters=params)

        worker = threading.Thread(target=first)
        worker.start()
        seen = None
        for _ in range(100):
            try:
                seen = cfn.describe_stacks(StackName="busy")["Stacks"][0]
                break
            except ClientError:
                threading.Event().wait(0.05)
        assert seen is not None and seen["StackStatus"] == "CREATE_IN_PROGRESS"
        busy = error(cfn.update_stack, StackName="busy", TemplateBody=body, Parameters=params)
        assert busy["Message"] == f"Stack:{seen['StackId']} is in CREATE_IN_PROGRESS state and can not be updated."
        twice = error(cfn.create_stack, StackName="busy", TemplateBody=body, Parameters=params)
        assert twice["Code"] == "AlreadyExistsException"
        worker.join(timeout=60)
        assert cfn.describe_stacks(StackName="busy")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    finally:
        slow.stop()


def test_waiter_sees_a_failed_create(cfn: Any, eks: Any, auditor: str) -> None:
    stack, cluster = unique("waited"), unique("waited")
    make_cluster(eks, cluster)
    cfn.create_stack(StackName=stack, TemplateBody=FAILING.replace("CLUSTER", cluster).replace("AUDITOR", auditor),
                     Capabilities=["CAPABILITY_IAM"])
    with pytest.raises(WaiterError) as failed:
        cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig=FAST)
    assert "ROLLBACK_COMPLETE" in str(failed.value)
    cfn.delete_stack(StackName=stack)


def readme_section() -> str:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    start = text.index("## Access as code")
    return text[start:text.index("\n## ", start + 1)]


def test_readme_template_and_commands_work_as_written(tmp_path: Path) -> None:
    """The README's template and commands, verbatim, on a fresh kubegate (its names are the README's)."""
    section = readme_section()
    template = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    script = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [" ".join(part.strip() for part in command.split("\\\n")).split("  #")[0].strip()
                for command in re.split(r"\n(?=aws )", script.strip())]
    fresh = Server(tmp_path / "data")
    fresh.start()
    try:
        (tmp_path / "access.yaml").write_text(template)
        env = fresh.cli_env()
        outputs = []
        for command in commands:
            done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            outputs.append(done.stdout)
        assert len(commands) == 7
        described = json.loads(outputs[1])["Stacks"][0]
        assert described["StackStatus"] == "CREATE_COMPLETE"
        assert described["Outputs"][0]["OutputValue"].startswith(f"arn:aws:iam::{fresh.account()}:role/dev-access-")
        assert "No changes to deploy. Stack dev-access is up to date" in outputs[2]
        events = json.loads(outputs[4])["StackEvents"]
        updated = {e["LogicalResourceId"] for e in events[:events.index(next(
            e for e in events if e["ResourceStatus"] == "UPDATE_IN_PROGRESS" and e["LogicalResourceId"] == "dev-access"))]}
        assert updated == {"dev-access", "DeveloperEntry"}
        assert json.loads(outputs[5])["StackDriftDetectionId"]
        eks = fresh.client("eks")
        with pytest.raises(eks.exceptions.ResourceNotFoundException):
            eks.describe_cluster(name="dev")
    finally:
        fresh.stop()


def test_lookups_of_missing_and_deleted_stacks(cfn: Any) -> None:
    name = unique("gone")
    cfn.delete_stack(StackName=name)  # unknown: no error, as on AWS
    events = error(cfn.describe_stack_events, StackName=name)
    assert events["Message"] == f"Stack [{name}] does not exist"
    body = "Resources:\n  P:\n    Type: AWS::IAM::OIDCProvider\n    Properties: {Url: URL}\n"
    first = cfn.create_stack(StackName=name, TemplateBody=body.replace("URL", f"https://{name}.example"))["StackId"]
    same = cfn.create_change_set(StackName=name, ChangeSetName="same", TemplateBody=body.replace(
        "URL", f"https://{name}.example"))
    described = cfn.describe_change_set(ChangeSetName=same["Id"])
    assert (described["Status"], described["ExecutionStatus"], described["Changes"]) == ("FAILED", "UNAVAILABLE", [])
    assert described["StatusReason"] == ("The submitted information didn't contain changes. "
                                         "Submit different information to create a change set.")
    refused = error(cfn.execute_change_set, ChangeSetName=same["Id"])
    assert (refused["Code"], refused["Message"]) == \
        ("InvalidChangeSetStatus", f"ChangeSet [{same['Id']}] cannot be executed in its current status of [FAILED]")
    cfn.delete_stack(StackName=name)
    second = cfn.create_stack(StackName=name, TemplateBody=body.replace("URL", f"https://{name}-2.example"))["StackId"]
    assert second != first  # the name is reusable, with a new ARN
    summaries = {s["StackId"]: s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == name}
    assert summaries == {first: "DELETE_COMPLETE", second: "CREATE_COMPLETE"}
    assert "Stack with id" in error(cfn.get_template, StackName=unique("none"))["Message"]
    assert cfn.get_template(StackName=second)["TemplateBody"] == body.replace("URL", f"https://{name}-2.example")
    cfn.delete_stack(StackName=name)


def test_a_spent_change_set_name_can_be_used_again(cfn: Any) -> None:
    """`aws cloudformation deploy` names its change sets after the current second: two deploys in one
    second reuse a name. A set that can no longer run gives way; a runnable one still conflicts."""
    name = unique("names")
    body = "Resources:\n  P:\n    Type: AWS::IAM::OIDCProvider\n    Properties: {Url: URL}\n"
    cfn.create_stack(StackName=name, TemplateBody=body.replace("URL", f"https://{name}.example"))
    same = body.replace("URL", f"https://{name}.example")
    first = cfn.create_change_set(StackName=name, ChangeSetName="deploy-1", TemplateBody=same)["Id"]
    assert cfn.describe_change_set(ChangeSetName=first)["Status"] == "FAILED"  # no changes
    changed = body.replace("URL", f"https://{name}-2.example")
    second = cfn.create_change_set(StackName=name, ChangeSetName="deploy-1", TemplateBody=changed)["Id"]
    assert second != first and cfn.describe_change_set(ChangeSetName=second)["ExecutionStatus"] == "AVAILABLE"
    taken = error(cfn.create_change_set, StackName=name, ChangeSetName="deploy-1", TemplateBody=same)
    assert (taken["Code"], taken["Message"]) == ("AlreadyExistsException", "ChangeSet [deploy-1] already exists")
    cfn.delete_stack(StackName=name)
