"""Domain errors: the EKS error kinds a rule can break, with EKS's own wording.

The domain decides *which* kind of failure happened (the parameter was invalid, the
resource is missing, …) because that is part of the EKS behaviour being reproduced;
the API layer only maps each class to its wire code (``InvalidParameterException`` …).
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the EKS access model was broken; ``message`` is what the caller reads."""

    def __init__(self, message: str, *, cluster_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cluster_name = cluster_name


class InvalidParameter(DomainError):
    """A parameter is malformed or not allowed here (EKS ``InvalidParameterException``)."""


class InvalidRequest(DomainError):
    """The request is not valid in the cluster's current state (``InvalidRequestException``)."""


class ResourceNotFound(DomainError):
    """A cluster, entry, association or update does not exist (``ResourceNotFoundException``)."""


class ResourceInUse(DomainError):
    """The resource already exists or is busy (``ResourceInUseException``)."""


class ResourceLimitExceeded(DomainError):
    """A service quota would be exceeded (``ResourceLimitExceededException``)."""


class BadRequest(DomainError):
    """A tagging request is malformed (``BadRequestException``; tagging has its own error kinds)."""


class NotFound(DomainError):
    """A tagged resource does not exist (``NotFoundException``)."""


# IAM and STS error kinds (their wire codes are the class names, as IAM spells them).


class NoSuchEntity(DomainError):
    """An IAM user, role, policy or key does not exist (IAM ``NoSuchEntity``, 404)."""


class EntityAlreadyExists(DomainError):
    """An IAM name is taken (``EntityAlreadyExists``, 409)."""


class MalformedPolicyDocument(DomainError):
    """A policy document is not valid IAM policy JSON (``MalformedPolicyDocument``, 400)."""


class DeleteConflict(DomainError):
    """Something still depends on what is being deleted (``DeleteConflict``, 409)."""


class LimitExceeded(DomainError):
    """An IAM quota would be exceeded, e.g. a third access key (``LimitExceeded``, 409)."""


class InvalidInput(DomainError):
    """An IAM parameter is invalid beyond what the model checks (``InvalidInput``, 400)."""


class AccessDenied(DomainError):
    """An identity or trust policy does not allow the call (``AccessDenied`` / ``AccessDeniedException``)."""


class ExpiredToken(DomainError):
    """A session's credentials have expired (STS ``ExpiredToken``)."""


class ValidationError(DomainError):
    """An IAM/STS parameter fails a constraint (``ValidationError``, 400)."""
