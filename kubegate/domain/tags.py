"""Tag maps: at most 50 per resource, and the ``aws:`` prefix belongs to AWS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kubegate.domain.errors import DomainError

MAX_TAGS = 50


def check_tags(tags: Mapping[str, str], error: type[DomainError]) -> None:
    """``error`` differs by caller: tagging operations raise BadRequest, creates InvalidParameter."""
    if len(tags) > MAX_TAGS:
        raise error(f"A resource can have at most {MAX_TAGS} tags")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise error(f"Tag keys starting with 'aws:' are reserved for AWS use: {key}")


def merged(current: Mapping[str, str], new: Mapping[str, str], error: type[DomainError]) -> dict[str, str]:
    result = {**current, **new}
    check_tags(new, error)
    check_tags(result, error)
    return result


def without(current: Mapping[str, str], keys: Iterable[str]) -> dict[str, str]:
    drop = set(keys)
    return {k: v for k, v in current.items() if k not in drop}
