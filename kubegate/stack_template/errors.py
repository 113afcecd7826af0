"""Errors of the template engine.

    Exception
    ├── TemplateError        the template (or its parameters) is invalid: a synchronous ValidationError
    ├── CapabilitiesRequired IAM resources without the capability: InsufficientCapabilitiesException
    └── PropertyError        one resource's properties are invalid: that resource's CREATE/UPDATE_FAILED reason

Each carries ``message`` exactly as CloudFormation words it, because the API returns it verbatim.
"""

from __future__ import annotations


class TemplateError(Exception):
    """The template, a parameter or an intrinsic is invalid; rejected before anything is deployed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CapabilitiesRequired(Exception):
    """The caller did not acknowledge the IAM capability that the template needs."""

    def __init__(self, capability: str) -> None:
        self.capability = capability
        self.message = f"Requires capabilities : [{capability}]"
        super().__init__(self.message)


class PropertyError(Exception):
    """A resource's properties do not fit its schema; fails only that resource, not the request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
