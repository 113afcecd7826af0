"""The one error type every AWS-protocol handler raises.

A handler never builds an error response itself: it raises :class:`AwsError` and the
protocol's serializer renders it in the caller's wire format (restJson1 for EKS,
query/XML for IAM and STS), so a bad request always gets an AWS error code and message
and never a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping


class AwsError(Exception):
    """An AWS error: a code such as ``InvalidParameterException`` and a message.

    ``status`` may be left out when the code is an error shape of the service's model;
    the serializer then takes the model's ``httpStatusCode`` (400 when it has none).
    ``fields`` are extra members of the error shape (EKS's ``clusterName``, …).
    ``sender_fault`` matters only to the query protocol's ``<Type>Sender|Receiver``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        fields: Mapping[str, str] | None = None,
        sender_fault: bool = True,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields: dict[str, str] = dict(fields or {})
        self.sender_fault = sender_fault
