"""The CloudFormation operations: botocore-model params in, the stack service's answer out.

Parsing and XML belong to the query protocol; this module authorizes each operation as
``cloudformation:<Operation>`` on the stack it names, refuses the parameters kubegate does not
implement (rather than accepting and ignoring them), and presents stacks, events, resources and
change sets as the model's members.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kubegate.api.aws_endpoint import AwsApi
from kubegate.api.stack_calls import ApiCalls
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.stacks import ON_FAILURE, ChangeSet, Stack, StackError, StackEvent, StackResource, is_arn
from kubegate.identity.authorizer import Authorizer
from kubegate.service.stacks.operations import Request, StackService
from kubegate.stack_template import ParameterInput

Params = Mapping[str, Any]
Output = dict[str, Any]
Handler = Callable[["Context", Params], Output]

# Parameters that would change what an operation may do or who does it: kubegate refuses them
# when set, instead of accepting them and doing something else.
_REFUSED = {
    "RoleARN": "stack operations run as the caller; a service role is not supported",
    "StackPolicyBody": "stack policies are not supported",
    "StackPolicyURL": "stack policies are not supported",
    "NotificationARNs": "stack notifications are not supported",
    "ResourcesToImport": "resource import is not supported",
    "ImportExistingResources": "resource import is not supported",
    "IncludeNestedStacks": "nested stacks are not supported",
    "EnableTerminationProtection": "termination protection is not supported",
    "RetainExceptOnCreate": "RetainExceptOnCreate is not supported",
    "DisableValidation": "template validation cannot be disabled",
    "DeploymentMode": "deployment modes are not supported",
    "TemplateURL": None,
}


class Context:
    """One request: who asks, and how to reach EKS and IAM as them."""

    def __init__(self, service: StackService, apis: Mapping[str, AwsApi], caller: Caller, facts: RequestFacts,
                 clock: Callable[[], datetime]) -> None:
        self.service = service
        self.caller = caller
        self.calls = ApiCalls(apis, caller, facts, clock)


def _refuse_unsupported(params: Params) -> None:
    for name, why in _REFUSED.items():
        value = params.get(name)
        if value in (None, False, [], ""):
            continue
        if name == "TemplateURL":
            raise StackError("TemplateURL must be a supported URL.")
        raise StackError(f"kubegate does not support {name}: {why}")
    triggers = (params.get("RollbackConfiguration") or {}).get("RollbackTriggers")
    if triggers:
        raise StackError("kubegate does not support RollbackConfiguration: rollback triggers need CloudWatch")


def _parameters(params: Params) -> dict[str, ParameterInput] | None:
    given = params.get("Parameters")
    if given is None:
        return None
    out: dict[str, ParameterInput] = {}
    for p in given:
        key = p.get("ParameterKey")
        if not key:
            raise StackError("ParameterKey must be specified for each parameter.")
        if p.get("UsePreviousValue") and p.get("ParameterValue") is not None:
            raise StackError(f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as true and "
                             "non empty value for a parameter")
        out[key] = ParameterInput(value=p.get("ParameterValue"), use_previous=bool(p.get("UsePreviousValue")))
    return out


def _request(params: Params) -> Request:
    _refuse_unsupported(params)
    return Request(
        template_body=params.get("TemplateBody"),
        use_previous_template=bool(params.get("UsePreviousTemplate")),
        parameters=_parameters(params),
        capabilities=tuple(params.get("Capabilities") or ()),
        tags=[{"Key": t["Key"], "Value": t["Value"]} for t in params["Tags"]] if params.get("Tags") else None,
        resource_types=tuple(params["ResourceTypes"]) if params.get("ResourceTypes") else None,
    )


# --- presenters --------------------------------------------------------------------------


def stack_output(stack: Stack) -> Output:
    out: Output = {
        "StackId": stack.stack_id, "StackName": stack.name, "Parameters": stack.shown_parameters(),
        "CreationTime": stack.created_at, "StackStatus": stack.status, "DisableRollback": stack.disable_rollback,
        "NotificationARNs": [], "RollbackConfiguration": {}, "Capabilities": stack.capabilities,
        "Outputs": stack.outputs, "Tags": stack.tags,
        "DriftInformation": {"StackDriftStatus": stack.drift_status},
    }
    if stack.drift_checked_at is not None:
        out["DriftInformation"]["LastCheckTimestamp"] = stack.drift_checked_at
    for key, value in (("ChangeSetId", stack.change_set_id), ("Description", stack.description),
                       ("StackStatusReason", stack.status_reason), ("LastUpdatedTime", stack.updated_at),
                       ("DeletionTime", stack.deleted_at)):
        if value is not None:
            out[key] = value
    if stack.deleted_at is None:
        out["EnableTerminationProtection"] = False
    return out


def event_output(event: StackEvent) -> Output:
    out: Output = {
        "StackId": event.stack_id, "EventId": event.event_id, "StackName": event.stack_name,
        "LogicalResourceId": event.logical_id, "PhysicalResourceId": event.physical_id,
        "ResourceType": event.type, "Timestamp": event.timestamp, "ResourceStatus": event.status,
    }
    if event.reason is not None:
        out["ResourceStatusReason"] = event.reason
    if event.properties is not None:
        out["ResourceProperties"] = event.properties
    if event.client_request_token is not None:
        out["ClientRequestToken"] = event.client_request_token
    return out


def resource_output(stack: Stack, resource: StackResource, *, detail: str) -> Output:
    """``detail``: "resource" (DescribeStackResources), "detail" (DescribeStackResource), "summary" (List…)."""
    drift: Output = {"StackResourceDriftStatus": resource.drift_status}
    if resource.drift_checked_at is not None:
        drift["LastCheckTimestamp"] = resource.drift_checked_at
    out: Output = {
        "LogicalResourceId": resource.logical_id, "PhysicalResourceId": resource.physical_id,
        "ResourceType": resource.type, "ResourceStatus": resource.status, "DriftInformation": drift,
    }
    if resource.status_reason:
        out["ResourceStatusReason"] = resource.status_reason
    if detail == "summary":
        out["LastUpdatedTimestamp"] = resource.updated_at
        return out
    out.update(StackName=stack.name, StackId=stack.stack_id)
    if detail == "detail":
        out["LastUpdatedTimestamp"] = resource.updated_at
        out["Metadata"] = "{}"
    else:
        out["Timestamp"] = resource.updated_at
    return out


def change_set_output(change_set: ChangeSet) -> Output:
    out: Output = {
        "ChangeSetName": change_set.name, "ChangeSetId": change_set.arn, "StackId": change_set.stack_id,
        "StackName": change_set.stack_name, "CreationTime": change_set.created_at,
        "ExecutionStatus": change_set.execution_status, "Status": change_set.status,
        "Parameters": [{"ParameterKey": k, "ParameterValue": "****" if k in change_set.no_echo else v}
                       for k in change_set.parameter_order for v in [change_set.parameters.get(k)] if v is not None],
        "NotificationARNs": [], "RollbackConfiguration": {}, "Capabilities": change_set.capabilities,
        "Tags": change_set.tags, "Changes": change_set.changes, "IncludeNestedStacks": False,
        "OnStackFailure": change_set.on_failure,
    }
    if change_set.description is not None:
        out["Description"] = change_set.description
    if change_set.status_reason is not None:
        out["StatusReason"] = change_set.status_reason
    return out


def change_set_summary(change_set: ChangeSet) -> Output:
    out = {k: v for k, v in change_set_output(change_set).items()
           if k in ("StackId", "StackName", "ChangeSetId", "ChangeSetName", "ExecutionStatus", "Status",
                    "StatusReason", "CreationTime", "Description", "IncludeNestedStacks")}
    return out


# --- handlers ----------------------------------------------------------------------------


def _on_failure(params: Params, default: str = "ROLLBACK") -> str:
    if params.get("OnFailure") and params.get("DisableRollback") is not None:
        raise StackError("Either DisableRollback or OnFailure can be specified, not both.")
    if params.get("DisableRollback"):
        return "DO_NOTHING"
    value = params.get("OnFailure") or params.get("OnStackFailure") or default
    if value not in ON_FAILURE:
        raise StackError(f"Invalid OnFailure value {value}")
    return str(value)


def create_stack(ctx: Context, p: Params) -> Output:
    stack_id = ctx.service.create_stack(ctx.calls, p["StackName"], _request(p), on_failure=_on_failure(p),
                                        token=p.get("ClientRequestToken"))
    return {"StackId": stack_id}


def update_stack(ctx: Context, p: Params) -> Output:
    request = _request(p)
    if request.template_body is None and not request.use_previous_template:
        raise StackError("Either Template URL or Template Body must be specified.")
    stack_id = ctx.service.update_stack(ctx.calls, p["StackName"], request,
                                        disable_rollback=bool(p.get("DisableRollback")),
                                        token=p.get("ClientRequestToken"))
    return {"StackId": stack_id}


def delete_stack(ctx: Context, p: Params) -> Output:
    _refuse_unsupported(p)
    ctx.service.delete_stack(ctx.calls, p["StackName"], tuple(p.get("RetainResources") or ()),
                             token=p.get("ClientRequestToken"))
    return {}


def describe_stacks(ctx: Context, p: Params) -> Output:
    return {"Stacks": [stack_output(s) for s in ctx.service.stacks(p.get("StackName"))]}


def list_stacks(ctx: Context, p: Params) -> Output:
    wanted = set(p.get("StackStatusFilter") or ())
    summaries = []
    for stack in ctx.service.all_stacks():
        if wanted and stack.status not in wanted:
            continue
        item: Output = {"StackId": stack.stack_id, "StackName": stack.name, "CreationTime": stack.created_at,
                        "StackStatus": stack.status, "DriftInformation": {"StackDriftStatus": stack.drift_status}}
        for key, value in (("TemplateDescription", stack.description), ("StackStatusReason", stack.status_reason),
                           ("LastUpdatedTime", stack.updated_at), ("DeletionTime", stack.deleted_at)):
            if value is not None:
                item[key] = value
        summaries.append(item)
    return {"StackSummaries": summaries}


def describe_stack_events(ctx: Context, p: Params) -> Output:
    _, events = ctx.service.events(p["StackName"])
    return {"StackEvents": [event_output(e) for e in events]}


def describe_stack_resources(ctx: Context, p: Params) -> Output:
    if p.get("StackName") and p.get("PhysicalResourceId"):
        raise StackError("StackName and PhysicalResourceId cannot both be specified.")
    found = ctx.service.resources(p.get("StackName"), p.get("PhysicalResourceId"))
    wanted = p.get("LogicalResourceId")
    return {"StackResources": [resource_output(s, r, detail="resource") for s, r in found
                               if wanted is None or r.logical_id == wanted]}


def describe_stack_resource(ctx: Context, p: Params) -> Output:
    for stack, resource in ctx.service.resources(p["StackName"]):
        if resource.logical_id == p["LogicalResourceId"]:
            return {"StackResourceDetail": resource_output(stack, resource, detail="detail")}
    raise StackError(f"Resource {p['LogicalResourceId']} does not exist for stack {p['StackName']}")


def list_stack_resources(ctx: Context, p: Params) -> Output:
    found = ctx.service.resources(p["StackName"])
    return {"StackResourceSummaries": [resource_output(s, r, detail="summary") for s, r in found]}


def get_template(ctx: Context, p: Params) -> Output:
    body = ctx.service.template_body(p.get("StackName"), p.get("ChangeSetName"))
    return {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]}


def get_template_summary(ctx: Context, p: Params) -> Output:
    if p.get("StackSetName") or p.get("TemplateURL"):
        _refuse_unsupported({"TemplateURL": p.get("TemplateURL")})
        raise StackError("kubegate does not support stack sets")
    if p.get("TemplateBody") is None and not p.get("StackName"):
        raise StackError("Either Template URL or Template Body must be specified.")
    return ctx.service.template_summary(p.get("TemplateBody"), p.get("StackName"))


def validate_template(ctx: Context, p: Params) -> Output:
    _refuse_unsupported({"TemplateURL": p.get("TemplateURL")})
    return ctx.service.validate_template(p.get("TemplateBody"))


def create_change_set(ctx: Context, p: Params) -> Output:
    request = _request(p)
    if request.template_body is None and not request.use_previous_template:
        raise StackError("Either Template URL or Template Body must be specified.")
    change_set_type = p.get("ChangeSetType") or "UPDATE"
    if change_set_type not in ("CREATE", "UPDATE"):
        raise StackError(f"kubegate does not support ChangeSetType {change_set_type}")
    arn, stack_id = ctx.service.create_change_set(
        p["StackName"], p["ChangeSetName"], request, change_set_type=change_set_type,
        description=p.get("Description"), on_failure=_on_failure({"OnFailure": p.get("OnStackFailure")}),
    )
    return {"Id": arn, "StackId": stack_id}


def describe_change_set(ctx: Context, p: Params) -> Output:
    return change_set_output(ctx.service.change_set(p["ChangeSetName"], p.get("StackName")))


def execute_change_set(ctx: Context, p: Params) -> Output:
    _refuse_unsupported(p)
    ctx.service.execute_change_set(ctx.calls, p["ChangeSetName"], p.get("StackName"),
                                   disable_rollback=p.get("DisableRollback"), token=p.get("ClientRequestToken"))
    return {}


def delete_change_set(ctx: Context, p: Params) -> Output:
    ctx.service.delete_change_set(p["ChangeSetName"], p.get("StackName"))
    return {}


def list_change_sets(ctx: Context, p: Params) -> Output:
    return {"Summaries": [change_set_summary(c) for c in ctx.service.change_sets(p["StackName"])]}


def detect_stack_drift(ctx: Context, p: Params) -> Output:
    detection = ctx.service.detect_drift(ctx.calls, p["StackName"], tuple(p.get("LogicalResourceIds") or ()))
    return {"StackDriftDetectionId": detection}


def describe_stack_drift_detection_status(ctx: Context, p: Params) -> Output:
    stack = ctx.service.drift_detection(p["StackDriftDetectionId"])
    drifted = sum(1 for _, r in ctx.service.resources(stack.stack_id) if r.drift_status in ("MODIFIED", "DELETED"))
    return {
        "StackId": stack.stack_id, "StackDriftDetectionId": p["StackDriftDetectionId"],
        "StackDriftStatus": stack.drift_status, "DetectionStatus": "DETECTION_COMPLETE",
        "DriftedStackResourceCount": drifted, "Timestamp": stack.drift_checked_at,
    }


def describe_stack_resource_drifts(ctx: Context, p: Params) -> Output:
    drifts = ctx.service.resource_drifts(p["StackName"], tuple(p.get("StackResourceDriftStatusFilters") or ()))
    return {"StackResourceDrifts": drifts}


HANDLERS: dict[str, Handler] = {
    "CreateStack": create_stack, "UpdateStack": update_stack, "DeleteStack": delete_stack,
    "DescribeStacks": describe_stacks, "ListStacks": list_stacks, "DescribeStackEvents": describe_stack_events,
    "DescribeStackResources": describe_stack_resources, "DescribeStackResource": describe_stack_resource,
    "ListStackResources": list_stack_resources, "GetTemplate": get_template,
    "GetTemplateSummary": get_template_summary, "ValidateTemplate": validate_template,
    "CreateChangeSet": create_change_set, "DescribeChangeSet": describe_change_set,
    "ExecuteChangeSet": execute_change_set, "DeleteChangeSet": delete_change_set,
    "ListChangeSets": list_change_sets, "DetectStackDrift": detect_stack_drift,
    "DescribeStackDriftDetectionStatus": describe_stack_drift_detection_status,
    "DescribeStackResourceDrifts": describe_stack_resource_drifts,
}


def resource_arn(service: StackService, operation: str, params: Params) -> str:
    """The stack an operation acts on, as IAM policies name it; "*" for operations on no one stack."""
    name = params.get("StackName")
    change_set = params.get("ChangeSetName")
    if not name and isinstance(change_set, str) and is_arn(change_set):
        return change_set
    if not name or operation in ("ValidateTemplate", "ListStacks"):
        return "*"
    if is_arn(name):
        return str(name)
    return f"arn:{service.partition}:cloudformation:{service.region}:{service.account}:stack/{name}/*"


def authorize(authorizer: Authorizer, service: StackService, caller: Caller, operation: str, params: Params,
              facts: RequestFacts) -> None:
    authorizer.check(caller, f"cloudformation:{operation}", resource_arn(service, operation, params), facts)
