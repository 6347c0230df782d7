"""ModelSpec's decoder parameters: the authors' defaults, validation, run-time overrides, reading version 1."""
from __future__ import annotations

import warnings

import pytest

from dsl_deploy.cli.common import parse_decoder_set
from dsl_deploy.errors import InputError, SpecError
from dsl_deploy.spec import SPEC_VERSION, DecoderSpec, ModelSpec, SpecUpgradeWarning, describe_decoder


def test_defaults_are_the_authors_rules() -> None:
    d = DecoderSpec()
    assert (d.nms_window, d.strict_thresholds, d.support, d.gaussian, d.clamp) == (13, True, "disc", "approx", 1.0)
    assert (d.keypoint_assignment, d.discard_mask_pixels, d.min_keypoints) == ("nearest-centre", 100, 5)
    assert (d.seed_threshold, d.keypoint_threshold, d.truncate, d.sigma_min, d.weight_divisor) == (0.1, 0.1, 1.0, 1.0, 16.0)


def test_round_trip_keeps_every_decoder_field() -> None:
    spec = ModelSpec().with_decoder(clamp=None, support="square", min_keypoints=0)
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec and again.decoder.clamp is None


@pytest.mark.parametrize("field,value", [
    ("nms_window", 4), ("nms_window", 3.0), ("support", "circle"), ("gaussian", "fast"), ("clamp", 0.0),
    ("clamp", float("nan")), ("keypoint_assignment", "nearest"), ("discard_mask_pixels", -1),
    ("min_keypoints", 20), ("max_players", 10 ** 18), ("strict_thresholds", "yes"), ("sigma_min", 1e30),
    ("weight_divisor", 1e-45), ("seed_threshold", float("inf")),
])
def test_bad_decoder_values_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(SpecError, match=f"decoder.{field}"):
        ModelSpec().with_decoder({field: value})
    data = ModelSpec().to_dict()
    data["decoder"][field] = value
    with pytest.raises(SpecError, match=f"decoder.{field}"):
        ModelSpec.from_dict(data, source="m.onnx")


def test_unknown_override_is_refused() -> None:
    with pytest.raises(SpecError, match="nms_size"):
        ModelSpec().with_decoder(nms_size=9)


def test_version_1_reads_with_the_authors_rules_keeping_chosen_values() -> None:
    data = ModelSpec().to_dict()
    data["spec_version"] = 1
    data.pop("architecture", None)
    data["decoder"] = {"seed_threshold": 0.2, "keypoint_threshold": 0.1, "player_threshold": 0.5, "nms_window": 3,
                       "truncate": 1.0, "sigma_min": 1.0, "weight_divisor": 16.0, "exact": False, "max_players": 64}
    with pytest.warns(SpecUpgradeWarning, match="old.onnx: model spec version 1") as caught:
        spec = ModelSpec.from_dict(data, source="old.onnx")
    assert "nms_window=13" in str(caught[0].message) and "kept from the file: seed_threshold=0.2" in str(caught[0].message)
    assert spec.spec_version == SPEC_VERSION and spec.decoder == DecoderSpec(seed_threshold=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per file
        ModelSpec.from_dict(data, source="old.onnx")


def test_newer_version_is_refused() -> None:
    with pytest.raises(SpecError, match="newer"):
        ModelSpec.from_dict({**ModelSpec().to_dict(), "spec_version": SPEC_VERSION + 1})


def test_decoder_set_values_are_typed() -> None:
    got = parse_decoder_set(["nms_window=9", "clamp=none", "strict_thresholds=false", "support=square",
                             "seed_threshold=0.2"])
    assert got == {"nms_window": 9, "clamp": None, "strict_thresholds": False, "support": "square",
                   "seed_threshold": 0.2}
    assert ModelSpec().with_decoder(got).decoder.nms_window == 9
    assert "nms_window=13" in describe_decoder(DecoderSpec())


@pytest.mark.parametrize("item,message", [("nms_window", "KEY=VALUE"), ("window=3", "KEY=VALUE"),
                                          ("nms_window=nine", "not a valid int"), ("exact=maybe", "bool")])
def test_decoder_set_errors_name_the_item(item: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_decoder_set([item])


def test_precision_is_part_of_the_spec_and_checked():
    from dataclasses import replace

    from dsl_deploy.errors import SpecError
    from dsl_deploy.spec import ModelSpec

    spec = replace(ModelSpec(), precision="int8")
    assert ModelSpec.from_json(spec.to_json()).precision == "int8"
    assert ModelSpec().precision == "fp32"
    with pytest.raises(SpecError, match="precision"):
        replace(ModelSpec(), precision="int4").validate()
