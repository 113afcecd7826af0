"""EKS, IAM and STS as :class:`AwsApi` values: wire, authorization, handlers, error codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import botocore.session
from botocore.model import StructureShape

from kubegate.api import cloudformation, eks, iam, sts
from kubegate.api.aws_endpoint import ANONYMOUS, UNSIGNED_OPERATIONS, AwsApi
from kubegate.api.awsproto.errors import AwsError
from kubegate.api.awsproto.query import QueryProtocol
from kubegate.api.awsproto.restjson import RestJsonProtocol
from kubegate.api.wire import QueryWire, RestJsonWire
from kubegate.domain import errors as d
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.condition_keys import PrincipalType, principal_type
from kubegate.domain.oidc_providers import (
    ExpiredIdentityToken,
    IDPCommunicationError,
    IDPRejectedClaim,
    InvalidIdentityToken,
)
from kubegate.identity.authorizer import Authorizer
from kubegate.identity.iam import IamService
from kubegate.identity.sts import StsService
from kubegate.domain.stacks import StackError
from kubegate.service.access import AccessService
from kubegate.service.stacks.operations import StackService

_session = botocore.session.get_session()

EKS_ERRORS: dict[type[d.DomainError], tuple[str, int | None]] = {
    d.InvalidParameter: ("InvalidParameterException", None),
    d.InvalidRequest: ("InvalidRequestException", None),
    d.ResourceNotFound: ("ResourceNotFoundException", None),
    d.ResourceInUse: ("ResourceInUseException", None),
    d.ResourceLimitExceeded: ("ResourceLimitExceededException", None),
    d.BadRequest: ("BadRequestException", None),
    d.NotFound: ("NotFoundException", None),
    d.AccessDenied: ("AccessDeniedException", 403),
    d.ExpiredToken: ("ExpiredTokenException", 403),
}
QUERY_ERRORS: dict[type[d.DomainError], tuple[str, int | None]] = {
    d.NoSuchEntity: ("NoSuchEntity", 404),
    d.EntityAlreadyExists: ("EntityAlreadyExists", 409),
    d.MalformedPolicyDocument: ("MalformedPolicyDocument", 400),
    d.DeleteConflict: ("DeleteConflict", 409),
    d.LimitExceeded: ("LimitExceeded", 409),
    d.InvalidInput: ("InvalidInput", 400),
    d.InvalidParameter: ("InvalidInput", 400),
    d.ValidationError: ("ValidationError", 400),
    d.AccessDenied: ("AccessDenied", 403),
    d.ExpiredToken: ("ExpiredToken", 403),
    InvalidIdentityToken: ("InvalidIdentityToken", 400),
    ExpiredIdentityToken: ("ExpiredTokenException", 400),
    IDPRejectedClaim: ("IDPRejectedClaim", 403),
    IDPCommunicationError: ("IDPCommunicationError", 400),
}


def authorize_eks(service: AccessService, authorizer: Authorizer, caller: Caller, operation: str,
                  params: dict[str, Any], facts: RequestFacts) -> None:
    """An EKS action on its resource with its condition keys, and iam:PassRole on a role it hands EKS.

    The account root may do everything, so its calls skip the reads that only a policy needs."""
    if principal_type(caller) is PrincipalType.ROOT:
        return
    resource, keys = eks.authorization_target(service, operation, params)
    authorizer.check(caller, f"eks:{operation}", resource, facts, keys)
    passed = eks.passed_role(operation, params)
    if passed is not None:  # EKS is handed a role: the caller needs iam:PassRole on it, as on AWS
        authorizer.check(caller, "iam:PassRole", passed, facts, iam.pass_role_keys("eks.amazonaws.com", resource))


ModeSwitchWarning = Callable[[Caller, str, str], None]
"""Called with (caller, cluster, new mode) before an UpdateClusterConfig that changes the mode."""


def eks_api(service: AccessService, authorizer: Authorizer, before_mode_switch: ModeSwitchWarning | None = None) -> AwsApi:
    model = _session.get_service_model("eks")
    cluster_shape = model.shape_for("Cluster")
    assert isinstance(cluster_shape, StructureShape)
    handlers = eks.handlers(eks.EksPresenter(cluster_shape))

    def run(caller: Caller, operation: str, params: dict[str, Any], facts: RequestFacts) -> dict[str, Any]:
        handler = handlers.get(operation)
        if handler is None:
            raise AwsError("InvalidRequestException", f"kubegate does not implement the EKS operation {operation}")
        authorize_eks(service, authorizer, caller, operation, params, facts)
        mode = (params.get("accessConfig") or {}).get("authenticationMode") if operation == "UpdateClusterConfig" else None
        if mode and before_mode_switch is not None:
            before_mode_switch(caller, str(params["name"]), str(mode))
        return handler(service, caller, params, facts.now)

    return AwsApi("eks", RestJsonWire(RestJsonProtocol(model)), run, EKS_ERRORS)


def iam_api(service: IamService, authorizer: Authorizer) -> AwsApi:
    handlers = iam.handlers()

    def run(caller: Caller, operation: str, params: dict[str, Any], facts: RequestFacts) -> dict[str, Any]:
        handler = handlers.get(operation)
        if handler is None:
            raise AwsError("InvalidAction", f"kubegate does not implement the IAM operation {operation}", status=400)
        resource, keys = iam.authorization(service, operation, params, caller)
        authorizer.check(caller, f"iam:{operation}", resource, facts, keys)
        return handler(service, caller, params)

    wire = QueryWire(QueryProtocol(_session.get_service_model("iam")))
    return AwsApi("iam", wire, run, QUERY_ERRORS, query_protocol=True, internal_error="ServiceFailure")


def sts_api(service: StsService) -> AwsApi:
    """GetCallerIdentity needs no permission; AssumeRole checks trust and identity policies itself;
    AssumeRoleWithWebIdentity (the one unsigned operation) only its token and the trust policy."""
    handlers = sts.handlers()

    def run(caller: Caller, operation: str, params: dict[str, Any], facts: RequestFacts) -> dict[str, Any]:
        if caller is ANONYMOUS and ("sts", operation) not in UNSIGNED_OPERATIONS:  # the endpoint lets none through
            raise AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", status=403)
        handler = handlers.get(operation)
        if handler is None:
            raise AwsError("InvalidAction", f"kubegate does not implement the STS operation {operation}", status=400)
        return handler(service, caller, params, facts)

    wire = QueryWire(QueryProtocol(_session.get_service_model("sts")))
    return AwsApi("sts", wire, run, QUERY_ERRORS, query_protocol=True, internal_error="InternalFailure")


def cloudformation_api(service: StackService, apis: Mapping[str, AwsApi], authorizer: Authorizer,
                       clock: Callable[[], datetime]) -> AwsApi:
    """Stack operations reach EKS and IAM through ``apis``, as the caller of the stack operation."""

    def run(caller: Caller, operation: str, params: dict[str, Any], facts: RequestFacts) -> dict[str, Any]:
        handler = cloudformation.HANDLERS.get(operation)
        if handler is None:
            raise AwsError("InvalidAction", f"kubegate does not implement the CloudFormation operation {operation}",
                           status=400)
        try:
            cloudformation.authorize(authorizer, service, caller, operation, params, facts)
            return handler(cloudformation.Context(service, apis, caller, facts, clock), params)
        except StackError as exc:
            raise AwsError(exc.code, exc.message, status=exc.status) from None

    wire = QueryWire(QueryProtocol(_session.get_service_model("cloudformation")))
    return AwsApi("cloudformation", wire, run, QUERY_ERRORS, query_protocol=True, internal_error="InternalFailure")
