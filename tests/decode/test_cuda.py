"""CUDA decoder: the library's C boundary and availability here; agreement with the NumPy reference on a GPU."""
from __future__ import annotations

import ctypes
import os
from dataclasses import replace

import numpy as np
import pytest

from dsl_testing.fields import network_like_fields, random_pif, with_decoder

from dsl_deploy.decode import Decoder, cuda
from dsl_deploy.decode.fields import full_resolution
from dsl_deploy.decode.reference import fuse_maps, local_maxima
from dsl_deploy.errors import BackendUnavailable, InputError
from dsl_deploy.spec import BALL, CENTER, ModelSpec

SPEC = ModelSpec(backbone="resnet18").with_input_size(129)
SYMBOLS = ("dsl_cuda_available", "dsl_cuda_last_error", "dsl_cuda_version", "dsl_cuda_set_device", "dsl_cuda_decoder_create",
           "dsl_cuda_decoder_destroy", "dsl_cuda_decode", "dsl_cuda_decode_host", "dsl_cuda_fuse",
           "dsl_cuda_download", "dsl_cuda_download_fused", "dsl_cuda_device_outputs_get")
ERR_ARGUMENT = 1
# Cases too slow for the CPU emulation: they run (emulated and on the GPU) where there is a GPU.
GPU_ONLY = pytest.mark.cuda


def nvcc_expected() -> bool:
    from dsl_testing.scripts import load_script

    mod = load_script("setup_cuda.py")
    return mod.find_nvcc() is not None and os.environ.get("DSL_BUILD_CUDA", "auto") != "0"


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    """The built library (skipped where the build had no nvcc)."""
    if not cuda.library_path().is_file():
        if nvcc_expected():
            pytest.fail(f"nvcc is present but {cuda.library_path()} was not built: run "
                        f"'python setup.py build_ext --inplace'")
        pytest.skip("the CUDA decoder library is not built (no nvcc at build time)")
    return cuda.load_library()


def params(**kw) -> cuda.DecodeParams:
    p = cuda.decode_params(SPEC)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def create(lib: ctypes.CDLL, h: int, w: int, stride: int, p: cuda.DecodeParams | None) -> tuple[int, str]:
    handle = ctypes.c_void_p()
    status = lib.dsl_cuda_decoder_create(h, w, stride, ctypes.byref(p) if p is not None else None, ctypes.byref(handle))
    if status == 0:
        lib.dsl_cuda_decoder_destroy(handle)
    else:
        assert not handle
    return status, lib.dsl_cuda_last_error().decode()


# ---- runs everywhere the library is built (no GPU needed) ------------------------------------------

def test_library_exports_the_c_abi(lib: ctypes.CDLL) -> None:
    missing = [name for name in SYMBOLS if not hasattr(lib, name)]
    assert not missing
    assert lib.dsl_cuda_version().decode() == "2.0.0"


def cuda_python_device_count() -> int | None:
    """Devices cuda-python sees (None when it is not installed)."""
    from dsl_deploy.errors import BackendUnavailable
    from dsl_deploy.tensorrt.cuda_runtime import cudart as cuda_runtime
    try:
        cudart = cuda_runtime()
    except BackendUnavailable:
        return None
    err, n = cudart.cudaGetDeviceCount()
    return int(n) if int(err) == 0 else 0


def test_device_count_without_a_crash(lib: ctypes.CDLL) -> None:
    n = lib.dsl_cuda_available()
    assert n >= 0
    expected = cuda_python_device_count()
    if expected is not None:
        assert n == expected
    if n == 0:
        assert lib.dsl_cuda_last_error().decode().startswith("cudaGetDeviceCount")


@pytest.mark.parametrize("kw,h,w,stride,message", [
    ({}, 0, 129, 1, "size"),
    ({}, 129, -5, 1, "size"),
    ({}, 1 << 14, 1 << 14, 1, "size"),
    ({}, 129, 129, 2, "seg_stride"),
    ({"nms_window": 4}, 129, 129, 1, "nms_window"),
    ({"max_players": 0}, 129, 129, 1, "max_players"),
    ({"max_players": 5000}, 129, 129, 1, "max_players"),
    ({"seed_threshold": float("nan")}, 129, 129, 1, "seed_threshold"),
    ({"player_threshold": 0.0}, 129, 129, 1, "player_threshold"),
    ({"sigma_min": -1.0}, 129, 129, 1, "sigma_min"),
    ({"support": 2}, 129, 129, 1, "support"),
    ({"gaussian": -1}, 129, 129, 1, "gaussian"),
    ({"clamp": float("nan")}, 129, 129, 1, "clamp"),
    ({"clamp": float("inf")}, 129, 129, 1, "clamp"),
    ({"keypoint_assignment": 2}, 129, 129, 1, "keypoint_assignment"),
    ({"discard_mask_pixels": -1}, 129, 129, 1, "discard_mask_pixels"),
    ({"min_keypoints": 20}, 129, 129, 1, "min_keypoints"),
    ({"min_keypoints": -1}, 129, 129, 1, "min_keypoints"),
])
def test_create_rejects_bad_arguments(lib: ctypes.CDLL, kw: dict, h: int, w: int, stride: int, message: str) -> None:
    status, error = create(lib, h, w, stride, params(**kw))
    assert status == ERR_ARGUMENT and message in error


def test_null_pointers_are_errors_not_crashes(lib: ctypes.CDLL) -> None:
    assert create(lib, 129, 129, 1, None) == (ERR_ARGUMENT, "params: NULL pointer")
    assert lib.dsl_cuda_decoder_create(129, 129, 1, ctypes.byref(params()), None) == ERR_ARGUMENT
    assert lib.dsl_cuda_decode(None, None, None, None, None) == ERR_ARGUMENT
    assert lib.dsl_cuda_decode_host(None, None, None, None, None) == ERR_ARGUMENT
    assert lib.dsl_cuda_fuse(None, None, 0, None) == ERR_ARGUMENT
    assert lib.dsl_cuda_download(None, None, None) == ERR_ARGUMENT
    assert lib.dsl_cuda_download_fused(None, None, None) == ERR_ARGUMENT
    lib.dsl_cuda_decoder_destroy(None)
    assert "NULL" in lib.dsl_cuda_last_error().decode()


def test_no_device_is_backend_unavailable(lib: ctypes.CDLL) -> None:
    if lib.dsl_cuda_available() > 0:
        pytest.skip("a CUDA device is present: the GPU tests below cover the decoder")
    assert not cuda.is_available()
    assert "no usable CUDA device" in cuda.unavailable_reason()
    with pytest.raises(BackendUnavailable, match="no usable CUDA device"):
        cuda.CudaDecoder(SPEC)
    with pytest.raises(BackendUnavailable, match="cuda decoder"):
        Decoder(SPEC, impl="cuda")
    status, error = create(lib, 129, 129, 1, params())
    assert status == 11 and error.startswith("no CUDA device")


def test_missing_library_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(cuda.LIBRARY_ENV, str(tmp_path / "libdsl_decode_cuda.so"))
    monkeypatch.setattr(cuda, "_lib", None)
    monkeypatch.setattr(cuda, "_lib_error", None)
    assert not cuda.is_available()
    assert "is not built" in cuda.unavailable_reason()
    with pytest.raises(BackendUnavailable, match="is not built"):
        cuda.CudaDecoder(SPEC)


def test_broken_library_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    fake = tmp_path / "libdsl_decode_cuda.so"
    fake.write_bytes(b"not an ELF file")
    monkeypatch.setenv(cuda.LIBRARY_ENV, str(fake))
    monkeypatch.setattr(cuda, "_lib", None)
    monkeypatch.setattr(cuda, "_lib_error", None)
    with pytest.raises(BackendUnavailable, match="cannot load"):
        cuda.load_library()


def test_frame_pointers_step_over_whole_frames() -> None:
    spec = SPEC.with_input_size(65)
    base = {"player": 1000, "offset": 10**6, "pif": 10**8}
    assert cuda.frame_pointers(base, spec, 0) == base
    got = cuda.frame_pointers(base, spec, 2)
    assert got == {"player": 1000 + 2 * 65 * 65 * 4, "offset": 10**6 + 2 * 2 * 65 * 65 * 4,
                   "pif": 10**8 + 2 * 19 * 5 * 9 * 9 * 4}
    with pytest.raises(InputError, match="frame"):
        cuda.frame_pointers(base, spec, -1)
    with pytest.raises(InputError, match="missing 'pif'"):
        cuda.frame_pointers({"player": 1, "offset": 2}, spec, 1)


def test_set_device_without_a_device_or_out_of_range(lib: ctypes.CDLL) -> None:
    n = lib.dsl_cuda_available()
    status = lib.dsl_cuda_set_device(n + 3)
    assert status == (11 if n == 0 else ERR_ARGUMENT)
    assert lib.dsl_cuda_set_device(-1) == (11 if n == 0 else ERR_ARGUMENT)


def header_struct_fields(name: str) -> list[tuple[str, str]]:
    """(C type, field name) of `typedef struct name {...}` in csrc/include/dsl_decode.h, in order."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "csrc" / "include" / "dsl_decode.h").read_text()
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return re.findall(r"^\s*(float|int32_t)\s+(\w+);", body, re.M)


def test_params_mirror_the_c_struct() -> None:
    # dsl_params of dsl_decode.h field for field (names, order, types); dsl_output: 6 pointers, 2 ints,
    # 3 floats, 6 doubles.
    ctype = {"float": ctypes.c_float, "int32_t": ctypes.c_int32}
    assert [(n, t) for n, t in cuda.DecodeParams._fields_] == [(n, ctype[t]) for t, n in header_struct_fields("dsl_params")]
    assert ctypes.sizeof(cuda.DecodeParams) == 17 * 4
    assert ctypes.sizeof(cuda.DecodeOutput) == 6 * 8 + 8 + 12 + 4 + 6 * 8
    p = cuda.decode_params(with_decoder(SPEC, exact=True, max_players=7))
    assert (p.exact, p.max_players, p.nms_window) == (1, 7, 13)
    assert p.seed_threshold == pytest.approx(SPEC.decoder.seed_threshold)
    # The authors' rules are index 0 of each C enum; the clamp of 1.0 passes through.
    assert (p.strict_thresholds, p.support, p.gaussian, p.keypoint_assignment) == (1, 0, 0, 0)
    assert (p.clamp, p.discard_mask_pixels, p.min_keypoints) == (1.0, 100, 5)
    q = cuda.decode_params(with_decoder(SPEC, strict_thresholds=False, support="square", gaussian="exp", clamp=None,
                                  keypoint_assignment="own-mask", discard_mask_pixels=7, min_keypoints=3))
    assert (q.strict_thresholds, q.support, q.gaussian, q.keypoint_assignment) == (0, 1, 1, 1)
    assert (q.clamp, q.discard_mask_pixels, q.min_keypoints) == (0.0, 7, 3)
    assert cuda.decode_params(with_decoder(SPEC, clamp=0.5)).clamp == 0.5
    with pytest.raises(InputError, match="support"):
        cuda.decode_params(with_decoder(SPEC, support="circle"))


# ---- agreement with the NumPy reference: on a GPU, and everywhere with the kernels emulated on the CPU ----

@pytest.fixture(scope="module")
def emulated_library(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same kernel sources built for the CPU emulation (csrc/cuda/emulate.h) with g++."""
    from dsl_testing.cuda_emulation import emulated_library_or_skip

    return emulated_library_or_skip(tmp_path_factory)


@pytest.fixture(params=["emulated", pytest.param("gpu", marks=pytest.mark.cuda)])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on the GPU library, or on the emulated kernels (monkeypatched in as the library)."""
    if request.param == "emulated":
        monkeypatch.setenv(cuda.LIBRARY_ENV, request.getfixturevalue("emulated_library"))
        monkeypatch.setattr(cuda, "_lib", None)
        monkeypatch.setattr(cuda, "_lib_error", None)
        assert cuda.is_available()
    return request.param


def both(fields: dict, spec: ModelSpec):
    """(reference result, CUDA result, full-res player, offset)."""
    a = Decoder(spec, impl="numpy")(fields)
    b = cuda.CudaDecoder(spec)(fields)
    player, offset, _ = full_resolution(fields, spec)
    return a, b, player, offset


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("seed,h,w", [(0, 65, 97), pytest.param(2, 33, 161, marks=GPU_ONLY), pytest.param(1, 129, 129, marks=GPU_ONLY)])
def test_fused_maps_match_reference(kernels: str, seed: int, h: int, w: int, exact: bool) -> None:
    pif = random_pif(np.random.default_rng(seed), h, w)
    spec = with_decoder(SPEC.with_input_size(w, h), exact=exact)
    got = cuda.CudaDecoder(spec).fuse(pif, h, w, exact=exact)
    want = fuse_maps(pif, h, w, spec.decoder, exact)
    assert want.any()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("seed,size,n", [(0, 129, 3), (4, 129, 0), pytest.param(1, 161, 6, marks=GPU_ONLY),
                                         pytest.param(2, 129, 1, marks=GPU_ONLY),
                                         pytest.param(3, 193, 10, marks=GPU_ONLY)])
def test_structured_fields_match_reference(kernels: str, seed: int, size: int, n: int, make_fields, assert_same_result) -> None:
    spec = SPEC.with_input_size(size)
    fields = make_fields(np.random.default_rng(seed), size, size, n)
    a, b, player, offset = both(fields, spec)
    assert a.num_players >= 1 if n else a.num_players == 0
    assert_same_result(a, b, player, offset)
    np.testing.assert_array_equal(a.labels, b.labels)  # Eq. 4 is float32 bit for bit: even ties agree
    assert set(b.timings) >= {"fuse", "maxima", "assign", "poses", "total"}


@pytest.mark.parametrize("index", [0, pytest.param(1, marks=GPU_ONLY), pytest.param(2, marks=GPU_ONLY)])
def test_synthetic_scenes_match_reference(kernels: str, index: int, assert_same_result) -> None:
    from dsl_deploy.data.encode import ideal_fields
    from dsl_deploy.data.synthetic import SyntheticScenes

    spec = SPEC.with_input_size(161)
    _image, ann = SyntheticScenes(seed=3, width=161, height=161)[index]
    fields = ideal_fields(ann, spec, noise=0.5, rng=np.random.default_rng(index))
    a, b, player, offset = both(fields, spec)
    assert a.num_players >= 1
    assert_same_result(a, b, player, offset)
    decoder = cuda.CudaDecoder(spec)
    decoder(fields)
    want = fuse_maps(fields["pif"], 161, 161, spec.decoder)
    np.testing.assert_allclose(decoder.fused_maps(), want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kw", [pytest.param({"exact": True}, marks=GPU_ONLY), {"max_players": 2}, {"nms_window": 5}, {"nms_window": 1},
                                {"seed_threshold": 0.0, "keypoint_threshold": 0.0}])
def test_decoder_parameters_match_reference(kernels: str, kw: dict, make_fields, assert_same_result) -> None:
    spec = with_decoder(SPEC.with_input_size(97), **kw)
    fields = make_fields(np.random.default_rng(7), 97, 97, 4)
    a, b, player, offset = both(fields, spec)
    assert_same_result(a, b, player, offset)


# The rules of dsl_params 2.0.0 one at a time away from the authors' (the defaults), and all of them at once.
OLD_LIKE = {"nms_window": 3, "strict_thresholds": False, "support": "square", "gaussian": "exp", "clamp": None,
            "keypoint_assignment": "own-mask", "discard_mask_pixels": 0, "min_keypoints": 0}
RULE_VARIANTS = [{}, {"keypoint_assignment": "own-mask"}, {"support": "square", "gaussian": "exp"}, {"clamp": None},
                 {"clamp": 0.3}, {"strict_thresholds": False}, {"discard_mask_pixels": 0, "min_keypoints": 0},
                 {"discard_mask_pixels": 300, "min_keypoints": 12}, OLD_LIKE]


def fused_tolerance(kernels: str) -> float:
    # The emulation adds each pixel's splats in seed order, as the reference does; a GPU's atomics reorder them.
    return 0.0 if kernels == "emulated" else 1e-5


@pytest.mark.parametrize("kw", RULE_VARIANTS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "authors")
def test_rule_variants_match_reference(kernels: str, kw: dict, make_fields, assert_same_result) -> None:
    spec = with_decoder(SPEC.with_input_size(129), **kw)
    fields = make_fields(np.random.default_rng(8), 129, 129, 6)
    a, b, player, offset = both(fields, spec)
    assert a.num_players >= 1
    assert_same_result(a, b, player, offset)
    np.testing.assert_array_equal(a.labels, b.labels)
    decoder = cuda.CudaDecoder(spec)
    decoder(fields)
    want = fuse_maps(fields["pif"], 129, 129, spec.decoder)
    np.testing.assert_allclose(decoder.fused_maps(), want, rtol=0, atol=fused_tolerance(kernels))
    if spec.decoder.clamp is not None:
        assert want.max() <= np.float32(spec.decoder.clamp)
        assert spec.decoder.clamp == 1.0 or (want == np.float32(spec.decoder.clamp)).any()  # the clamp bites


def plateau_maxima(fmap: np.ndarray, threshold: float, window: int) -> int:
    """Local maxima (reference rule) with an equal earlier neighbour in their window: the tie rule decided them."""
    h, w = fmap.shape
    r = window // 2
    count = 0
    for idx in local_maxima(fmap, threshold, window).tolist():
        y, x = divmod(idx, w)
        patch = fmap[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1]
        count += int((patch == fmap[y, x]).sum() > 1)
    return count


@pytest.mark.parametrize("size,index,kw", [
    (129, 0, {}), (161, 1, {}), (129, 1, {"weight_divisor": 1.0}),
    pytest.param(161, 0, {"keypoint_assignment": "own-mask"}, marks=GPU_ONLY),
    pytest.param(193, 0, {}, marks=GPU_ONLY), pytest.param(193, 1, OLD_LIKE, marks=GPU_ONLY)])
def test_network_like_fields_match_reference(kernels: str, size: int, index: int, kw: dict, assert_same_result) -> None:
    from dsl_deploy.data.synthetic import SyntheticScenes

    spec = with_decoder(SPEC.with_input_size(size), **kw)
    _image, ann = SyntheticScenes(7, size, size, min_players=3, max_players=5)[index]
    fields = network_like_fields(ann, spec, np.random.default_rng(index))
    a, b, player, offset = both(fields, spec)
    assert a.num_players >= 1
    assert_same_result(a, b, player, offset)
    np.testing.assert_array_equal(a.labels, b.labels)
    if spec.decoder.weight_divisor == 1.0:
        # Every seed splats its full confidence: the clamp flattens peaks into plateaus, so the tie rule
        # (the last pixel of a plateau is the maximum) decides keypoints.
        fused = fuse_maps(fields["pif"], size, size, spec.decoder)
        assert sum(plateau_maxima(fused[k], spec.decoder.keypoint_threshold, spec.decoder.nms_window)
                   for k in range(17)) > 0


def test_exact_ties_follow_the_reference(kernels: str, make_fields, splat_keypoint) -> None:
    # Two centres; the stronger one is later in raster order. Pixels (and a keypoint) whose pixel + offset lies
    # half-way between them tie in Eq. 4: the centre first in raster order wins, not the higher-ranked one.
    # Two equal maxima of one body part on one player: the later in raster order is its keypoint.
    h = w = 81
    spec = with_decoder(SPEC.with_input_size(w, h), min_keypoints=0)
    rng = np.random.default_rng(2)
    fields = make_fields(rng, h, w, 0, ball=False)
    fields["player"][0, 10:70, 20:60] = 0.9
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    target_x = np.where(xs < 36, 30.0, np.where(xs < 44, 40.0, 50.0)).astype(np.float32)
    fields["offset"][0] = target_x - xs
    fields["offset"][1] = 40.0 - ys
    splat_keypoint(fields["pif"], CENTER, 50.0, 40.0, rng, conf=0.9, noise=0)
    splat_keypoint(fields["pif"], CENTER, 30.0, 40.0, rng, conf=0.8, noise=0)
    splat_keypoint(fields["pif"], 0, 40.0, 20.0, rng, noise=0)  # nose on the tie band: goes to (30, 40)
    splat_keypoint(fields["pif"], 5, 28.0, 20.0, rng, noise=0)  # two equal left shoulders of (30, 40)
    splat_keypoint(fields["pif"], 5, 28.0, 60.0, rng, noise=0)
    splat_keypoint(fields["pif"], BALL, 80.0, 0.0, rng, noise=0)
    a, b, player, offset = both(fields, spec)
    assert a.num_players == 2 and a.centers.tolist() == [[50.0, 40.0], [30.0, 40.0]]
    fused = fuse_maps(fields["pif"], h, w, spec.decoder)
    assert fused[5, 20, 28] == fused[5, 60, 28] > 0
    assert (a.keypoints[1, 5].tolist(), a.keypoints[1, 0, :2].tolist()) == ([28.0, 60.0, fused[5, 60, 28]], [40.0, 20.0])
    assert (a.labels[10:70, 36:44] == 2).all()
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.areas, b.areas)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert (b.ball.x, b.ball.y) == (a.ball.x, a.ball.y) == (80.0, 0.0)


def test_many_centre_candidates_use_the_fallback_ranking(kernels: str, assert_same_result) -> None:
    # nms_window 1 and threshold 0 make nearly every pixel a centre maximum: > 4096 candidates.
    rng = np.random.default_rng(11)
    spec = with_decoder(SPEC.with_input_size(97), nms_window=1, keypoint_threshold=0.0, max_players=40,
                        discard_mask_pixels=0, min_keypoints=0)
    pif = random_pif(rng, 97, 97, density=0.9)
    fields = {"player": rng.random((1, 97, 97)).astype(np.float32),
              "offset": rng.normal(0, 5, (2, 97, 97)).astype(np.float32), "pif": pif}
    assert local_maxima(fuse_maps(pif, 97, 97, spec.decoder)[CENTER], 0.0, 1).size > 4096
    a, b, player, offset = both(fields, spec)
    assert a.num_players >= 25  # of the 40 centres kept, those that got player pixels
    assert_same_result(a, b, player, offset)


def test_seg_stride_4_upsamples_in_the_kernels(kernels: str, make_fields, assert_same_result) -> None:
    spec = replace(SPEC.with_input_size(161), seg_stride=4, architecture="light")
    full = make_fields(np.random.default_rng(5), 161, 161, 5)
    fields = {"player": np.ascontiguousarray(full["player"][:, ::4, ::4]),
              "offset": np.ascontiguousarray(full["offset"][:, ::4, ::4]), "pif": full["pif"]}
    a, b, player, offset = both(fields, spec)
    assert a.num_players >= 1
    assert_same_result(a, b, player, offset)


@pytest.mark.cuda
def test_device_pointers_on_a_stream(make_fields, assert_same_result) -> None:
    from dsl_deploy.tensorrt.cuda_runtime import cudart as cuda_runtime
    cudart = cuda_runtime()
    spec = SPEC.with_input_size(129)
    fields = make_fields(np.random.default_rng(9), 129, 129, 4)
    err, stream = cudart.cudaStreamCreate()
    assert int(err) == 0
    ptrs = {}
    try:
        for name in ("player", "offset", "pif"):
            host = np.ascontiguousarray(fields[name])
            err, ptr = cudart.cudaMalloc(host.nbytes)
            assert int(err) == 0
            ptrs[name] = int(ptr)
            (err,) = cudart.cudaMemcpy(ptr, host.ctypes.data, host.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice)
            assert int(err) == 0
        decoder = cuda.CudaDecoder(spec)
        got = decoder.decode_device(ptrs, int(stream))
        again = decoder.decode_device(ptrs, int(stream))  # scratch reused: the same answer
        want = Decoder(spec, impl="numpy")(fields)
        player, offset, _ = full_resolution(fields, spec)
        assert_same_result(want, got, player, offset)
        assert_same_result(got, again, player, offset)
        with pytest.raises(InputError, match="host pointer"):
            decoder.decode_device({"player": fields["player"].ctypes.data, "offset": ptrs["offset"],
                                   "pif": ptrs["pif"]}, int(stream))
        with pytest.raises(InputError, match="ptrs"):
            decoder.decode_device({"player": ptrs["player"], "offset": 0, "pif": ptrs["pif"]}, int(stream))
    finally:
        for ptr in ptrs.values():
            cudart.cudaFree(ptr)
        cudart.cudaStreamDestroy(stream)


@pytest.mark.parametrize("name", ["player", "offset", "pif"])
def test_non_finite_fields_are_input_errors(kernels: str, name: str, make_fields) -> None:
    fields = make_fields(np.random.default_rng(2), 65, 65, 2)
    fields[name] = fields[name].copy()
    fields[name].reshape(-1)[17] = np.nan
    decoder = cuda.CudaDecoder(SPEC.with_input_size(65))
    with pytest.raises(InputError, match=f"NaN or inf in {name}"):
        decoder(fields)
    with pytest.raises(InputError, match="expected shape"):
        decoder({**fields, "pif": fields["pif"][:, :, :-1]})


def test_scratch_is_reset_between_frames(kernels: str, make_fields, assert_same_result) -> None:
    # One decoder, frames of different content in turn: every frame must equal its own reference.
    spec = SPEC.with_input_size(97)
    frames = [make_fields(np.random.default_rng(s), 97, 97, n) for s, n in ((20, 4), (21, 1), (22, 0))]
    decoder = Decoder(spec, impl="cuda")
    for fields in frames + frames[:1]:
        want = Decoder(spec, impl="numpy")(fields)
        player, offset, _ = full_resolution(fields, spec)
        assert_same_result(want, decoder(fields), player, offset)


def test_bad_calls_on_a_live_decoder(kernels: str, make_fields) -> None:
    decoder = cuda.CudaDecoder(SPEC)
    fields = make_fields(np.random.default_rng(3), 129, 129, 1)
    with pytest.raises(InputError, match="host pointer"):
        decoder.decode_device({k: np.ascontiguousarray(v).ctypes.data for k, v in fields.items()})
    with pytest.raises(InputError, match="stream"):
        decoder.decode_device({"player": 1, "offset": 2, "pif": 3}, stream=-1)
    with pytest.raises(InputError, match="height/width"):
        decoder.fuse(fields["pif"], 65, 65)
    with pytest.raises(InputError, match="device"):
        cuda.CudaDecoder(SPEC, device=-1)
    with pytest.raises(InputError, match="device: 1000 is not one of"):
        cuda.CudaDecoder(SPEC, device=1000)
    status = decoder._lib.dsl_cuda_download(decoder._handle, ctypes.byref(cuda.DecodeOutput()), None)
    assert status == 12 and "no successful dsl_cuda_decode" in decoder._lib.dsl_cuda_last_error().decode()
    decoder.close()
    with pytest.raises(InputError, match="after close"):
        decoder(fields)


class _DeviceOutputs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in ("labels", "fused", "keypoints", "scores", "boxes", "areas", "centers")]


@pytest.mark.parametrize("exact", [False, True])
def test_c_fuse_on_device_memory_emulated(emulated_library: str, monkeypatch: pytest.MonkeyPatch, exact: bool) -> None:
    # Emulated device memory is host memory, so a pif can be written into a decoder-owned device buffer
    # (another decoder's fused maps) and handed to dsl_cuda_fuse as a device pointer.
    monkeypatch.setenv(cuda.LIBRARY_ENV, emulated_library)
    monkeypatch.setattr(cuda, "_lib", None)
    monkeypatch.setattr(cuda, "_lib_error", None)
    spec = SPEC.with_input_size(41, 57)
    pif = np.ascontiguousarray(random_pif(np.random.default_rng(4), 57, 41))
    holder, target = cuda.CudaDecoder(spec), cuda.CudaDecoder(spec)
    lib = holder._lib
    outs = _DeviceOutputs()
    assert lib.dsl_cuda_device_outputs_get(holder._handle, ctypes.byref(outs)) == 0
    ctypes.memmove(outs.fused, pif.ctypes.data, pif.nbytes)
    assert lib.dsl_cuda_fuse(target._handle, ctypes.c_void_p(outs.fused), int(exact), None) == 0
    got = np.empty((19, 57, 41), np.float32)
    assert lib.dsl_cuda_download_fused(target._handle, got.ctypes.data, None) == 0
    np.testing.assert_allclose(got, fuse_maps(pif, 57, 41, spec.decoder, exact), rtol=0, atol=1e-5)
    assert lib.dsl_cuda_fuse(target._handle, ctypes.c_void_p(pif.ctypes.data), 0, None) == ERR_ARGUMENT
