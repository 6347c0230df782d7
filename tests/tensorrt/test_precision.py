"""Layer-precision selection: the output tail and user patterns stay out of INT8/FP16."""
from __future__ import annotations

from dsl_deploy.tensorrt.precision import LayerInfo, output_tail, select
from dsl_deploy.tensorrt.profiles import LayerPrecision


def L(i, name, kind, ins, outs, float_output=True):
    return LayerInfo(i, name, kind, tuple(ins), tuple(outs), float_output)


# backbone conv -> relu -> head convs -> (sigmoid | reshape -> slice -> exp -> mul -> concat) -> outputs
NET = [
    L(0, "backbone.conv1", "CONVOLUTION", ["image"], ["c1"]),
    L(1, "backbone.relu", "ACTIVATION", ["c1"], ["r1"]),
    L(2, "head.player", "CONVOLUTION", ["r1"], ["sem"]),
    L(3, "player_sigmoid", "ACTIVATION", ["sem"], ["player"]),
    L(4, "head.pif", "CONVOLUTION", ["r1"], ["pif_raw"]),
    L(5, "pif_shape", "CONSTANT", [], ["shape"], float_output=False),
    L(6, "pif_reshape", "SHUFFLE", ["pif_raw", "shape"], ["p5"]),
    L(7, "pif_conf", "ACTIVATION", ["p5"], ["conf"]),
    L(8, "pif_scale_exp", "UNARY", ["p5"], ["scale"]),
    L(9, "eight", "CONSTANT", [], ["k8"]),
    L(10, "pif_mul", "ELEMENTWISE", ["scale", "k8"], ["scaled"]),
    L(11, "pif_concat", "CONCATENATION", ["conf", "scaled"], ["pif"]),
    L(12, "head.offset", "CONVOLUTION", ["r1"], ["offset"]),
]
OUTPUTS = ["player", "offset", "pif"]


def test_output_tail_stops_at_the_last_convolutions():
    tail = output_tail(NET, OUTPUTS)
    assert tail == {3, 5, 6, 7, 8, 9, 10, 11}  # not the convs, not the backbone behind them


def test_select_keeps_the_tail_fp32_and_skips_constants():
    fp32, fp16 = select(NET, OUTPUTS, LayerPrecision())
    assert [x.name for x in fp32] == ["player_sigmoid", "pif_reshape", "pif_conf", "pif_scale_exp", "pif_mul",
                                      "pif_concat"]
    assert fp16 == []


def test_select_patterns_and_opt_out():
    rules = LayerPrecision(fp32=("backbone.conv*",), fp16=("head.*", "backbone.*"), keep_outputs_fp32=False)
    fp32, fp16 = select(NET, OUTPUTS, rules, extra_fp16=("pif_conf",))
    assert [x.name for x in fp32] == ["backbone.conv1"]  # FP32 wins over a matching FP16 pattern
    assert [x.name for x in fp16] == ["backbone.relu", "head.player", "head.pif", "pif_conf", "head.offset"]


def test_select_with_extra_fp32_on_top_of_the_tail():
    fp32, _ = select(NET, OUTPUTS, LayerPrecision(), extra_fp32=("head.offset",))
    assert "head.offset" in [x.name for x in fp32] and "player_sigmoid" in [x.name for x in fp32]
