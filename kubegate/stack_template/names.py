"""Physical names for resources whose template omits the name (the registry's algorithm)."""

from __future__ import annotations

import random
import string

_ALPHABET = string.ascii_letters + string.digits
_RANDOM_LENGTH = 12
_OVERHEAD = _RANDOM_LENGTH + 2  # two hyphens


def generated_name(stack_name: str, logical_id: str, max_length: int, rand: random.Random) -> str:
    """``<stack>-<logicalId>-<12 random>``, truncated to fit ``max_length``.

    The room left after the suffix is shared fairly: the stack name's half rounds up, and a part
    shorter than its half lends the rest to the other, so short names are never cut needlessly.
    """
    room = max(0, max_length - _OVERHEAD)
    stack_share = (room + 1) // 2
    logical_share = room - stack_share
    if len(stack_name) < stack_share:
        logical_share += stack_share - len(stack_name)
        stack_share = len(stack_name)
    elif len(logical_id) < logical_share:
        stack_share += logical_share - len(logical_id)
        logical_share = len(logical_id)
    suffix = "".join(rand.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    name = f"{stack_name[:stack_share]}-{logical_id[:logical_share]}-{suffix}"
    return name[:max_length]
