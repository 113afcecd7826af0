"""How a stack operation reaches EKS and IAM: one call of a public API operation, as the caller.

CloudFormation without a service role acts with the credentials of whoever called CreateStack or
ExecuteChangeSet, so every provider call goes through the same authorization, validation and
errors as the public API. The stack layer knows only this protocol; the API layer implements it
over its AWS APIs, so nothing here depends on a wire format.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

# The registry's handler error codes, by the service's own error code (CloudFormation's
# "HandlerErrorCode" in a failed resource's reason).
_HANDLER_CODES = {
    "ResourceInUseException": "AlreadyExists",
    "EntityAlreadyExists": "AlreadyExists",
    "ResourceNotFoundException": "NotFound",
    "NoSuchEntity": "NotFound",
    "AccessDeniedException": "AccessDenied",
    "AccessDenied": "AccessDenied",
    "InvalidParameterException": "InvalidRequest",
    "InvalidRequestException": "InvalidRequest",
    "InvalidInput": "InvalidRequest",
    "ValidationError": "InvalidRequest",
    "MalformedPolicyDocument": "InvalidRequest",
    "ResourceLimitExceededException": "ServiceLimitExceeded",
    "LimitExceeded": "ServiceLimitExceeded",
    "DeleteConflict": "ResourceConflict",
}
_SERVICE_NAMES = {"eks": "Eks", "iam": "Iam"}


@dataclass
class ServiceError(Exception):
    """An EKS or IAM operation refused, with the code, status and message its API would answer."""

    service: str  # "eks" | "iam"
    code: str
    status: int
    message: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}: {self.message}")

    @property
    def handler_code(self) -> str:
        return _HANDLER_CODES.get(self.code, "GeneralServiceException")

    def reason(self) -> str:
        """The resource event's reason, in the registry's format."""
        service = _SERVICE_NAMES.get(self.service, self.service.capitalize())
        return (
            f'Resource handler returned message: "{self.message} (Service: {service}, Status Code: {self.status}, '
            f'Request ID: {self.request_id})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {self.handler_code})'
        )


class AwsCalls(Protocol):
    """Runs one public API operation as the stack operation's caller.

    ``params`` and the result are the botocore model's members, as an SDK would send and
    receive them (EKS ``clusterName``/``principalArn``, IAM ``RoleName``/``PolicyDocument``).
    Refusals raise :class:`ServiceError`.
    """

    def __call__(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]: ...
