"""One schema for every JSON read (issue 12, F4/F5): the spec's fields, nesting and size limits, escaped messages."""
from __future__ import annotations

import json

import pytest

from dsl_deploy.errors import DataError, SpecError, printable
from dsl_deploy.schema import Where, describe, nesting_depth, parse_json
from dsl_deploy.spec import ModelSpec


def _spec_with(section: str | None, key: str, value: object) -> dict:
    data = ModelSpec().to_dict()
    (data[section] if section else data)[key] = value
    return data


@pytest.mark.parametrize("section,key,value,field", [
    ("input", "width", "641", "input.width"),
    ("input", "width", 193.5, "input.width"),
    ("input", "height", 1e9, "input.height"),
    ("input", "width", 10 ** 9, "input.width"),
    ("input", "width", True, "input.width"),
    ("input", "std", [float("inf")] * 3, r"input.std\[0\]"),
    ("input", "mean", [0.5, float("nan"), 0.5], r"input.mean\[1\]"),
    ("input", "std", [0.2, 0.2], "input.std"),
    ("input", "std", [1e-45, 0.2, 0.2], r"input.std\[0\]"),
    (None, "sigmas", [1e-45] * 19, r"sigmas\[0\]"),
    ("input", "pad_value", 300, "input.pad_value"),
    ("input", "channels", ["R", "G", "B"], "input.channels"),
    (None, "sigmas", [float("nan")] * 19, r"sigmas\[0\]"),
    (None, "backbone_stride", 0, "backbone_stride"),
    (None, "seg_stride", "1", "seg_stride"),
    (None, "keypoints", [1, 2], r"keypoints\[0\]"),
])
def test_f4_spec_fields_of_the_wrong_type_or_range_are_refused_naming_file_and_field(section, key, value, field):
    with pytest.raises(SpecError, match=rf"^m.onnx metadata: field '{field}' is .*; expected"):
        ModelSpec.from_dict(_spec_with(section, key, value), source="m.onnx metadata")


def test_f4_a_5000_digit_spec_version_is_one_clear_error():
    text = json.dumps(ModelSpec().to_dict()).replace('"spec_version": 2', '"spec_version": ' + "9" * 5000)
    with pytest.raises(SpecError, match="m.onnx metadata: the model spec is not readable JSON"):
        ModelSpec.from_json(text, source="m.onnx metadata")
    with pytest.raises(SpecError, match="spec_version is an integer of 5000 digits, newer than"):
        ModelSpec.from_dict(_spec_with(None, "spec_version", 10 ** 4999 * 9), source="m.onnx metadata")


@pytest.mark.parametrize("depth", [40, 100_000])
def test_f4_deeply_nested_spec_json_is_refused_not_a_recursion_error(depth: int):
    text = '{"spec_version": 2, "input": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(SpecError, match="m.onnx metadata: the model spec is nested"):
        ModelSpec.from_json(text, source="m.onnx metadata")


def test_f4_an_oversized_spec_is_refused_before_parsing():
    with pytest.raises(SpecError, match="bytes; expected at most"):
        ModelSpec.from_json(" " * (2 << 20), source="big")


def test_f4_valid_specs_still_round_trip():
    spec = ModelSpec().with_input_size(193)
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_f5_messages_escape_control_characters_and_shorten_values():
    assert printable("m.onnx\x1b[2J\r\nx") == "m.onnx\\x1b[2J\\r\\nx"
    assert describe("a\x1bb") == '"a\\x1bb"' and describe("x" * 100).endswith('..."')
    assert describe(10 ** 5000) == "an integer of 5001 digits"  # str() of it would raise
    assert describe(-(10 ** 18) + 1) == str(-(10 ** 18) + 1)
    assert describe(float("nan")) == "NaN" and describe([1, [2]]) == "a list of 2 item(s)"
    with pytest.raises(DataError) as err:
        Where("f\x1b.json").string("a\x1b[31m", "name")
    assert "\x1b" not in str(err.value) and "\\x1b" in str(err.value)


def test_f4_nesting_depth_is_counted_without_recursion():
    deep: list = []
    node = deep
    for _ in range(50_000):
        node.append([])
        node = node[0]
    assert nesting_depth({"a": [1, {"b": 2}]}) == 3 and nesting_depth(deep, stop=10) == 11
    with pytest.raises(DataError, match="nested more than 2 levels"):
        parse_json('{"a": {"b": [1]}}', source="x.json", max_depth=2)
