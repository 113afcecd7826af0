"""Small helpers shared by the modules: how template scalars become CloudFormation strings."""

from __future__ import annotations

from typing import Any


def scalar_text(value: Any) -> str:
    """CloudFormation's string form of a scalar: booleans lower-case, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_scalar(value: Any) -> bool:
    """True for the template values that can stand where a string is expected."""
    return isinstance(value, (str, int, float, bool))
