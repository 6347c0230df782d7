"""The public decode API: impl selection, batch dim, spec checks, fuse(), and the import staying light."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dsl_deploy.decode import Decoder, decode, fuse, native_available, resolve_impl
from dsl_deploy.errors import BackendUnavailable, InputError
from dsl_deploy.spec import ModelSpec

SPEC = ModelSpec(backbone="resnet18").with_input_size(65)


def test_auto_picks_native_when_built() -> None:
    assert resolve_impl("auto") == ("native" if native_available() else "numpy")
    with pytest.raises(InputError, match="impl: 'gpu' is not one of"):
        resolve_impl("gpu")


def test_batch_of_one_is_accepted_and_larger_batches_refused(make_fields) -> None:
    fields = make_fields(np.random.default_rng(0), 65, 65, 2)
    plain = decode(fields, SPEC, impl="numpy")
    batched = decode({k: v[None] for k, v in fields.items()}, SPEC, impl="auto")
    np.testing.assert_array_equal(plain.labels, batched.labels)
    two = {k: np.concatenate([v[None]] * 2) for k, v in fields.items()}
    with pytest.raises(InputError, match="player: batch of 2 frames"):
        decode(two, SPEC, impl="numpy")


@pytest.mark.parametrize("impl", ["numpy", "auto"])
def test_fields_checked_against_the_spec(make_fields, impl: str) -> None:
    fields = make_fields(np.random.default_rng(0), 65, 65, 1)
    with pytest.raises(InputError, match="player: expected shape \\[1, 97, 97\\]"):
        decode(fields, SPEC.with_input_size(97), impl=impl)
    with pytest.raises(InputError, match="fields: missing pif"):
        decode({"player": fields["player"], "offset": fields["offset"]}, SPEC, impl=impl)
    with pytest.raises(InputError, match="pif: expected float32, got float64"):
        decode({**fields, "pif": fields["pif"].astype(np.float64)}, SPEC, impl=impl)
    bad = {k: v.copy() for k, v in fields.items()}
    bad["pif"][18, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="pif: non-finite"):
        decode(bad, SPEC, impl=impl)


def test_fuse_defaults_and_errors(make_fields) -> None:
    pif = make_fields(np.random.default_rng(0), 65, 65, 2)["pif"]
    maps = fuse(pif, 65, 65, impl="numpy")
    assert maps.shape == (19, 65, 65) and maps.dtype == np.float32 and maps[18].max() > 0.1
    if native_available():
        np.testing.assert_allclose(fuse(pif, 65, 65), maps, atol=1e-5)
        np.testing.assert_allclose(fuse(pif[None], 65, 65, exact=True), fuse(pif, 65, 65, exact=True, impl="numpy"),
                                   atol=1e-5)
    with pytest.raises(InputError, match="height"):
        fuse(pif, 0, 65, impl="numpy")
    with pytest.raises(InputError, match="pif: expected shape"):
        fuse(pif[:, :4], 65, 65, impl="numpy")


def test_decoder_arguments() -> None:
    with pytest.raises(InputError, match="threads"):
        Decoder(SPEC, impl="numpy", threads=0)
    with pytest.raises(InputError, match="spec"):
        Decoder({"input": 65}, impl="numpy")  # type: ignore[arg-type]
    assert "numpy" in repr(Decoder(SPEC, impl="numpy"))


def test_cuda_without_a_device_is_backend_unavailable() -> None:
    try:
        from dsl_deploy.decode import cuda
    except ImportError:
        cuda = None
    if cuda is not None and cuda.is_available():
        pytest.skip("a CUDA device is present: tests/decode/test_cuda*.py cover impl='cuda'")
    with pytest.raises(BackendUnavailable):
        Decoder(SPEC, impl="cuda")


def test_import_stays_light() -> None:
    code = ("import sys, dsl_deploy.decode, dsl_deploy.bench.paper_style, dsl_deploy.decode.reference; "
            "print(any(m in sys.modules for m in ('torch', 'onnxruntime', 'tensorrt')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_auto_warns_once_when_it_falls_back_to_numpy(monkeypatch):
    import warnings

    from dsl_deploy.decode import decoder as decoder_module

    monkeypatch.setattr(decoder_module, "native_available", lambda: False)
    decoder_module._warn_fallback.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert decoder_module.resolve_impl("auto") == "numpy"
        assert decoder_module.resolve_impl("auto") == "numpy"
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "native decoder is not built" in messages[0]
    decoder_module._warn_fallback.cache_clear()
