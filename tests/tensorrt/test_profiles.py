"""Target profiles: every shipped one loads, names resolve, malformed files name the field."""
from __future__ import annotations

from pathlib import Path

import pytest

from dsl_deploy.errors import SpecError
from dsl_deploy.tensorrt.profiles import Profile, ProfileError, available_targets, load_profile

SHIPPED = ["cpu-onnxruntime", "cpu-onnxruntime-int8", "cpu-openvino", "cpu-openvino-int8", "gpu-fp16", "jetson-orin-fp16", "jetson-orin-int8",
           "jetson-xavier-fp16", "v100-fp16"]


def test_available_targets_lists_the_shipped_profiles():
    assert available_targets() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_and_names_itself(name):
    prof = load_profile(name)
    assert isinstance(prof, Profile)
    assert prof.name == name
    assert prof.input.min_batch <= prof.input.opt_batch <= prof.input.max_batch
    assert prof.precision in name or prof.backend in ("onnxruntime", "openvino")


def test_shipped_profile_details():
    xavier = load_profile("jetson-xavier-fp16")
    assert xavier.dla is None  # DLA is opt-in
    int8 = load_profile("jetson-orin-int8")
    assert int8.precision == "int8" and int8.calibration.source == "synthetic"
    assert int8.layers.keep_outputs_fp32
    assert load_profile("jetson-orin-fp16").compute_capability == ("8.7",)
    assert "9.0" in load_profile("gpu-fp16").compute_capability
    cpu = load_profile("cpu-onnxruntime")
    assert cpu.backend == "onnxruntime" and cpu.precision == "fp32"
    cpu_int8 = load_profile("cpu-onnxruntime-int8")
    assert cpu_int8.backend == "onnxruntime" and cpu_int8.precision == "int8" and not cpu_int8.tensorrt
    for name, precision in (("cpu-openvino", "fp32"), ("cpu-openvino-int8", "int8")):
        ov = load_profile(name)
        assert ov.backend == "openvino" and ov.precision == precision and not ov.tensorrt


def test_every_tensorrt_target_states_its_tensorrt_range():
    from dsl_deploy.tensorrt.compat import version_in_range

    ranges = {name: load_profile(name).tensorrt for name in SHIPPED if load_profile(name).backend == "tensorrt"}
    assert all(ranges.values()), ranges
    v100 = ranges["v100-fp16"]  # Volta: deprecated in 10.0, removed in 10.5
    assert version_in_range((10, 4, 0), v100) and version_in_range((8, 6, 1), v100)
    assert not version_in_range((10, 5, 0), v100) and not version_in_range((11, 0), v100)
    assert version_in_range((8, 5, 2), ranges["jetson-xavier-fp16"])  # JetPack 5
    assert not version_in_range((10, 3), ranges["jetson-xavier-fp16"])
    assert version_in_range((10, 3), ranges["jetson-orin-int8"]) and version_in_range((11, 4), ranges["gpu-fp16"])


def test_family_name_picks_fp16():
    assert load_profile("jetson-orin").name == "jetson-orin-fp16"


def test_ambiguous_and_unknown_targets_list_the_options():
    with pytest.raises(ProfileError, match="ambiguous.*jetson-orin-fp16.*jetson-xavier-fp16"):
        load_profile("jetson")
    with pytest.raises(ProfileError, match="not a known target; available: cpu-onnxruntime, cpu-onnxruntime-int8, "
                                           "cpu-openvino, cpu-openvino-int8, gpu-fp16"):
        load_profile("tpu-fp8")


def test_user_profile_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\ndescription = "test"\nprecision = "fp32"\n[input]\nmax_batch = 4\n')
    prof = load_profile(path)
    assert prof.name == "mine" and prof.precision == "fp32" and prof.input.max_batch == 4
    assert prof.source == str(path)
    assert prof.to_dict()["dla"] == "none"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\ndescription = "x"\n' + body)
    return path


@pytest.mark.parametrize("body, field, reason", [
    ('precision = "int4"\n', "precision", "expected one of 'fp32', 'fp16', 'int8'"),
    ('workspace_mib = "lots"\n', "workspace_mib", "expected an integer"),
    ('optimization_level = 9\n', "optimization_level", "expected in 0..5"),
    ('hardware_compatibility = "turing+"\n', "hardware_compatibility", "expected one of"),
    ('dla = -1\n', "dla", "expected \"none\" or a DLA core"),
    ('version_compatible = "yes"\n', "version_compatible", "expected true or false"),
    ('[input]\nmin_batch = 4\nopt_batch = 2\n', "input.opt_batch", "min_batch <= opt_batch <= max_batch"),
    ('[input]\nwidth = 640\n', "input.width", "(size - 1) % 16 == 0"),
    ('[calibration]\nsource = "camera"\n', "calibration.source", "expected one of 'synthetic', 'folder'"),
    ('[calibration]\ncount = 4\nbatch = 8\n', "calibration.count", "smaller than one batch"),
    ('[layers]\nfp32 = "head*"\n', "layers.fp32", "list of layer-name patterns"),
    ('workspace = 10\n', "workspace", "not a known profile field"),
    ('compute_capability = "8.7"\n', "compute_capability", "list of \"major.minor\" strings"),
    ('input = 3\n', "input", "expected a table"),
])
def test_malformed_profile_names_file_field_and_reason(tmp_path, body, field, reason):
    path = _write(tmp_path, body)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert str(path) in msg and f"field '{field}'" in msg and reason in msg
    assert isinstance(err.value, SpecError)


def test_missing_required_field(tmp_path):
    path = tmp_path / "noname.toml"
    path.write_text('description = "x"\n')
    with pytest.raises(ProfileError, match="field 'name' is missing"):
        load_profile(path)


def test_invalid_toml_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(ProfileError, match="broken.toml: not valid TOML"):
        load_profile(path)
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(tmp_path / "absent.toml")


def test_inconsistent_combinations(tmp_path):
    cpu_int8 = load_profile(_write(tmp_path, 'backend = "onnxruntime"\nprecision = "int8"\n'))
    assert cpu_int8.backend == "onnxruntime" and cpu_int8.precision == "int8"  # the ONNX file carries the Q/DQ
    with pytest.raises(ProfileError, match="field 'tensorrt' only applies to backend tensorrt"):
        load_profile(_write(tmp_path, 'backend = "onnxruntime"\ntensorrt = ">=10"\n'))
    with pytest.raises(ProfileError, match="field 'tensorrt' is '10.x'; expected a version range"):
        load_profile(_write(tmp_path, 'tensorrt = "10.x"\n'))
    with pytest.raises(ProfileError, match="DLA runs only FP16 or INT8"):
        load_profile(_write(tmp_path, 'precision = "fp32"\ndla = 0\n'))
    with pytest.raises(ProfileError, match="field 'input.max_batch' is 2 but DLA needs a fixed batch"):
        load_profile(_write(tmp_path, 'dla = 1\n[input]\nmax_batch = 2\n'))
    assert load_profile(_write(tmp_path, 'dla = 1\n[input]\nmax_batch = 1\n')).dla == 1
