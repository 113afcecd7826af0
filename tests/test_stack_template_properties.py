"""Property-based tests of the template engine's intrinsic functions, YAML forms and generated names."""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.stack_template import (
    Context,
    Evaluation,
    ParameterInput,
    TemplateError,
    bind,
    generated_name,
    parse,
)

CONTEXT = Context(account="111122223333", region="eu-west-1", stack_name="demo", stack_id="arn:stack")
FAST = settings(max_examples=50, deadline=None)

texts = st.text(alphabet=string.ascii_letters + string.digits + " -_,.:/|", max_size=30)
delimiters = st.sampled_from([",", "|", "-", "::", " ", "ab"])


def resolve(expression: Any, conditions: dict[str, Any] | None = None) -> Any:
    """Evaluate one expression as the Path property of a user (bypassing the schema)."""
    document = {
        "Parameters": {"On": {"Type": "String", "Default": "true"}},
        "Conditions": conditions or {},
        "Resources": {"U": {"Type": "AWS::IAM::User", "Properties": {"Path": expression}}},
    }
    template = parse(json.dumps(document))
    evaluation = Evaluation(template, bind(template, {"On": ParameterInput("true")}), CONTEXT)
    return evaluation.properties("U", lambda _: None).get("Path")


@FAST
@given(texts, delimiters)
def test_join_of_split_is_identity(text: str, delimiter: str) -> None:
    expression = {"Fn::Join": [delimiter, {"Fn::Split": [delimiter, text]}]}
    assert resolve(expression) == text


@FAST
@given(texts.filter(lambda t: "," not in t))
def test_split_without_the_delimiter_is_one_item(text: str) -> None:
    assert resolve({"Fn::Split": [",", text]}) == [text]


@FAST
@given(st.lists(texts, min_size=1, max_size=6), st.data())
def test_select_picks_the_item(items: list[str], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
    as_text = data.draw(st.booleans())
    assert resolve({"Fn::Select": [str(index) if as_text else index, items]}) == items[index]


@FAST
@given(st.lists(texts, max_size=6), st.integers(min_value=-5, max_value=20))
def test_select_out_of_range_fails(items: list[str], index: int) -> None:
    if 0 <= index < len(items):
        return
    with pytest.raises(TemplateError) as caught:
        resolve({"Fn::Select": [index, items]})
    assert caught.value.message == (
        "Template error: Fn::Select requires a list argument with two elements: an integer index and a list"
    )


@FAST
@given(texts.filter(lambda t: "${" not in t))
def test_sub_without_variables_is_identity(text: str) -> None:
    assert resolve({"Fn::Sub": text}) == text


@FAST
@given(st.text(alphabet=string.ascii_letters + string.digits + ".:", min_size=1, max_size=15), texts)
def test_sub_bang_is_a_literal(name: str, text: str) -> None:
    assert resolve({"Fn::Sub": text.replace("$", "") + "${!" + name + "}"}) == text.replace("$", "") + "${" + name + "}"


@FAST
@given(st.text(alphabet=string.ascii_letters, min_size=1, max_size=10), texts)
def test_sub_variables_are_substituted(name: str, value: str) -> None:
    assert resolve({"Fn::Sub": ["<${" + name + "}>", {name: value}]}) == f"<{value}>"


@FAST
@given(st.booleans(), texts, texts)
def test_if_picks_the_branch(flag: bool, yes: str, no: str) -> None:
    conditions = {"C": {"Fn::Equals": ["true" if flag else "false", {"Ref": "On"}]}}
    assert resolve({"Fn::If": ["C", yes, no]}, conditions) == (yes if flag else no)


@FAST
@given(st.booleans(), st.lists(texts, max_size=4))
def test_if_novalue_removes_list_items(flag: bool, items: list[str]) -> None:
    conditions = {"C": {"Fn::Equals": ["true" if flag else "false", {"Ref": "On"}]}}
    expression = [{"Fn::If": ["C", {"Ref": "AWS::NoValue"}, item]} for item in items]
    assert resolve(expression, conditions) == ([] if flag else items)


# --- YAML short form vs long form ----------------------------------------------------------------

names = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)
attributes = st.lists(names, min_size=1, max_size=3).map(".".join)


def _expressions() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        texts,
        names.map(lambda n: {"Ref": n}),
        st.tuples(names, attributes).map(lambda p: {"Fn::GetAtt": [p[0], p[1]]}),
        texts.map(lambda t: {"Fn::Sub": t}),
        names.map(lambda n: {"Condition": n}),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(delimiters, st.lists(inner, max_size=3)).map(lambda p: {"Fn::Join": [p[0], p[1]]}),
            st.tuples(st.integers(0, 3), st.lists(inner, max_size=3)).map(lambda p: {"Fn::Select": [p[0], p[1]]}),
            st.tuples(names, inner, inner).map(lambda p: {"Fn::If": [p[0], p[1], p[2]]}),
            st.lists(inner, max_size=3),
        ),
        max_leaves=8,
    )


def short_form(value: Any) -> str:
    """Render an expression in YAML flow style with CloudFormation short tags."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(short_form(v) for v in value) + "]"
    ((key, argument),) = value.items()
    tag = key.removeprefix("Fn::")
    if key == "Fn::GetAtt":
        return f"!GetAtt {argument[0]}.{argument[1]}"
    return f"!{tag} {short_form(argument)}"


@FAST
@given(_expressions())
def test_short_and_long_forms_parse_alike(expression: Any) -> None:
    head = "Resources:\n  A:\n    Type: T\n    Properties:\n      P: "
    short = parse(head + short_form(expression) + "\n")
    long = parse(head + json.dumps(expression) + "\n")
    assert short.document == long.document
    assert long.resources["A"].properties["P"] == expression


# --- generated names -----------------------------------------------------------------------------

stack_names = st.from_regex(r"[a-zA-Z][-a-zA-Z0-9]{0,127}", fullmatch=True)
logical_ids = st.from_regex(r"[A-Za-z0-9]{1,255}", fullmatch=True)


@FAST
@given(stack_names, logical_ids, st.sampled_from([64, 100, 128]), st.integers(0, 2**32))
def test_generated_name_fits_and_starts_with_the_stack(stack: str, logical_id: str, maximum: int, seed: int) -> None:
    name = generated_name(stack, logical_id, maximum, random.Random(seed))
    assert len(name) <= maximum
    assert name.startswith(stack[: (maximum - 14 + 1) // 2])
    suffix = name[-12:]
    assert name[-13] == "-" and suffix.isalnum() and len(suffix) == 12
    if len(stack) + len(logical_id) + 14 <= maximum:
        assert name[:-13] == f"{stack}-{logical_id}"


@FAST
@given(stack_names, logical_ids, st.integers(0, 2**32))
def test_generated_name_is_deterministic_for_a_seed(stack: str, logical_id: str, seed: int) -> None:
    first = generated_name(stack, logical_id, 64, random.Random(seed))
    assert first == generated_name(stack, logical_id, 64, random.Random(seed))
