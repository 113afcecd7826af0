"""The ``UNKNOWN`` sentinel, in its own module so every other module can import it without cycles."""

from __future__ import annotations

from typing import Any, Final


class _Unknown:
    """A value known only after deploy (an attribute of a resource not yet created)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"

    def __copy__(self) -> _Unknown:
        return self

    def __deepcopy__(self, memo: Any) -> _Unknown:
        return self


UNKNOWN: Final = _Unknown()


def contains_unknown(value: Any) -> bool:
    """True if the value is, or anywhere contains, ``UNKNOWN``."""
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False
