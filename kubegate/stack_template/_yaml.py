"""YAML loading with CloudFormation's conventions.

Short tags become the long-form intrinsics (``!Ref`` → ``Ref``, ``!Sub`` → ``Fn::Sub``), and
timestamps are not resolved, so ``Version: 2012-10-17`` stays the string IAM expects.
"""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]


class TemplateLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader without the timestamp resolver, with CloudFormation short tags, and without
    aliases: CloudFormation does not support them, and a few hundred bytes of nested aliases
    (a "billion laughs") would expand into more nodes than any pass over the template can walk."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not supported", event.start_mark)
        return super().compose_node(parent, index)


TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _long_name(tag_suffix: str) -> str:
    return tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"


def _construct_short(loader: TemplateLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _long_name(tag_suffix)
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt" and isinstance(value, str):
            head, dot, tail = value.partition(".")
            value = [head, tail] if dot else [value]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


TemplateLoader.add_multi_constructor("!", _construct_short)


def load(text: str) -> Any:
    """Parse YAML text; raises ``yaml.YAMLError`` when it is not well-formed."""
    return yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass
