"""The TensorRT glue type-checked against NVIDIA's stubs: the stub repairs, and that a wrong name fails mypy."""
from __future__ import annotations

import textwrap

import pytest
from dsl_testing.scripts import ROOT, load_script

STUBS = ROOT / ".ci" / ".stubs"


@pytest.fixture(scope="module")
def stubs_tool():
    return load_script(".ci/trt_stubs.py")


def test_keyword_parameter_renamed(stubs_tool):
    line = "def on_shape_change(self: IPluginV3, in: list[PluginTensorDesc], out: list[PluginTensorDesc]) -> None:"
    fixed, n = stubs_tool.repair_source(line + "\n        ...\n", "x.pyi")
    assert n == 1
    assert "in_: list[PluginTensorDesc], out: list[PluginTensorDesc]" in fixed
    compile(fixed, "x.pyi", "exec")


def test_parameter_after_defaults_gets_a_default(stubs_tool):
    src = ("def add_scale_nd(self, input: ITensor, mode: ScaleMode, shift: Weights = None, "
           "scale: Weights = None, channel_axis: int, *, name: dict[str, int]) -> IScaleLayer:\n    ...\n")
    fixed, n = stubs_tool.repair_source(src, "x.pyi")
    assert n == 1
    assert "channel_axis: int = ..." in fixed
    assert "input: ITensor, mode: ScaleMode," in fixed  # parameters before the first default keep none
    compile(fixed, "x.pyi", "exec")


def test_unknown_defect_is_refused(stubs_tool):
    with pytest.raises(ValueError, match="not a defect this script knows"):
        stubs_tool.repair_source("def f(x: int) -> int\n    ...\n", "x.pyi")


def test_shadowed_bool_annotations(stubs_tool):
    src = textwrap.dedent("""\
        import typing
        class Dims:
            def __eq__(self, arg0: list) -> bool:
                ...
            flag: bool
        bool: DataType
        """)
    fixed, n = stubs_tool.unshadow_bool(src)
    assert n == 2
    assert "-> builtins.bool:" in fixed and "flag: builtins.bool" in fixed
    assert "\nbool: DataType" in fixed  # the data type itself stays
    assert "import builtins" in fixed
    assert stubs_tool.unshadow_bool("def f() -> bool: ...\n") == ("def f() -> bool: ...\n", 0)


@pytest.mark.slow
@pytest.mark.skipif(not (STUBS / "tensorrt_bindings" / "tensorrt.pyi").is_file(),
                    reason="TensorRT stubs not installed here: run python .ci/trt_stubs.py (CI does)")
def test_wrong_tensorrt_names_fail_mypy(tmp_path, monkeypatch):
    api = pytest.importorskip("mypy.api")
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""\
        from dsl_deploy.tensorrt.api import BuilderConfig, Engine, TrtModule

        def good(trt: TrtModule, config: BuilderConfig, engine: Engine) -> None:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
            engine.get_tensor_name(0)

        def bad(trt: TrtModule, config: BuilderConfig, engine: Engine) -> None:
            config.set_flag(trt.BuilderFlag.FP61)
            engine.get_binding_name(0)
            trt.Bulider
        """))
    monkeypatch.setenv("MYPYPATH", str(STUBS))
    monkeypatch.chdir(ROOT)
    out, err, status = api.run([str(probe), "--no-incremental", "--follow-imports=silent"])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out + err
    lines = sorted(int(e.split(":")[1]) for e in errors)
    assert lines == [8, 9, 10], out  # the three wrong names in bad(), nothing in good()
    assert '"FP61"' in out and '"get_binding_name"' in out and '"Bulider"' in out
