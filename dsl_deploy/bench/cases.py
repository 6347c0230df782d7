"""One measured pipeline (an artifact, a backend, a decoder), timed stage by stage on synthetic frames."""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import InputError
from ..result import FrameResult
from ..spec import ModelSpec
from .memory import gpu_used_mb, peak_rss_mb, runs_on_gpu
from .stats import summarize

DECODERS = ("auto", "native", "numpy", "cuda", "paper")
FIELD_SOURCES = ("ground-truth", "network")


@dataclass
class Case:
    """What to measure; serialisable so that a worker process can run it alone."""

    label: str
    artifact: str
    decoder: str = "auto"
    iters: int = 20
    warmup: int = 3
    batch: int = 1
    threads: int | None = None
    fields: str = "ground-truth"  # what the decoder is timed on; see describe_fields()
    noise: float = 0.1  # noise of the ground-truth fields (std in PIF cells), so they are not trivially clean
    players: int = 10  # players per synthetic frame (DESIGN.md's decoder target: 10 at 641x641)
    seed: int = 0
    distinct_frames: int = 8
    save_outputs: str | None = None  # .npz path: the first frame's network outputs, for parity columns
    decoder_params: dict[str, Any] = field(default_factory=dict)  # DecoderSpec overrides (--decoder-set)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON)."""
        return asdict(self)


def describe_fields(case: Case) -> str:
    """The sentence the JSON carries about what the decoder was timed on."""
    if case.fields == "network":
        return "the network's own outputs on synthetic frames (meaningful only for a trained checkpoint)"
    return (f"fields encoded from the synthetic scenes' ground truth (dsl_deploy.data.encode.ideal_fields, "
            f"noise {case.noise} cells, {case.players} players per frame): as sparse as a trained network's, not random noise")


def make_decoder(name: str, spec: ModelSpec) -> Callable[[Mapping[str, np.ndarray]], FrameResult]:
    """A callable fields -> FrameResult for a decoder name of DECODERS."""
    if name not in DECODERS:
        raise InputError(f"decoder: {name!r} is not one of {', '.join(DECODERS)}")
    if name == "paper":
        from ..decode.paper_style import PaperStyleDecoder
        return PaperStyleDecoder(spec)
    from ..decode import Decoder
    return Decoder(spec, impl=name)


def decoder_impl(name: str) -> str:
    """The implementation a decoder name runs here ('auto' resolved)."""
    if name == "paper":
        return "paper-style"
    from ..decode import resolve_impl
    return resolve_impl(name)


def _backend(case: Case):
    from ..backends import artifact_kind, load_backend
    kind = artifact_kind(case.artifact)
    if kind == "checkpoint":
        import torch  # only the torch case pays for it

        if case.threads:
            torch.set_num_threads(case.threads)
        return load_backend(case.artifact)
    if kind == "onnx":
        return load_backend(case.artifact, threads=case.threads)
    return load_backend(case.artifact)


def _frames(case: Case, spec: ModelSpec) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
    from ..data.encode import ideal_fields
    from ..data.synthetic import SyntheticScenes

    scenes = SyntheticScenes(case.seed, spec.input.width, spec.input.height, min_players=case.players,
                             max_players=case.players)
    rng = np.random.default_rng(case.seed)
    frames, fields = [], []
    for i in range(max(1, case.distinct_frames)):
        image, ann = scenes[i]
        frames.append(image)
        fields.append(ideal_fields(ann, spec, rng=rng, noise=case.noise))
    return frames, fields


def run_case(case: Case, progress: bool = True) -> dict[str, Any]:
    """Time preprocess, inference and each decode stage over warmup + iters batches; return the summary."""
    from ..preprocess import Preprocessor

    if case.fields not in FIELD_SOURCES:
        raise InputError(f"fields: {case.fields!r} is not one of {', '.join(FIELD_SOURCES)}")
    t_load = time.perf_counter()
    backend = _backend(case)
    on_gpu = runs_on_gpu(backend)
    gpu_peak = gpu_used_mb() if on_gpu else None
    spec = backend.spec.with_decoder(case.decoder_params)
    load_ms = (time.perf_counter() - t_load) * 1e3
    decoder = make_decoder(case.decoder, spec)
    pre = Preprocessor(spec)
    frames, gt_fields = _frames(case, spec)
    samples: dict[str, list[float]] = {}
    players: list[int] = []
    total_rounds = case.warmup + case.iters
    bar = _progress(total_rounds, case.label) if progress else None
    for r in range(total_rounds):
        idx = [(r * case.batch + b) % len(frames) for b in range(case.batch)]
        t0 = time.perf_counter()
        batch, _ = pre([frames[i] for i in idx])
        t1 = time.perf_counter()
        out = backend.infer(batch)
        t2 = time.perf_counter()
        decode_stages: dict[str, float] = {}
        for b, i in enumerate(idx):
            fields = gt_fields[i] if case.fields == "ground-truth" else {k: v[b] for k, v in out.items()}
            result = decoder(fields)
            for k, v in result.timings.items():
                decode_stages[k] = decode_stages.get(k, 0.0) + v
        t3 = time.perf_counter()
        if r == 0 and case.save_outputs:
            np.savez(case.save_outputs, **{k: v[:1] for k, v in out.items()})
        if r < case.warmup:
            _tick(bar)
            continue
        players.append(result.num_players)
        stage = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "decode": (t3 - t2) * 1e3,
                 "total": (t3 - t0) * 1e3}
        stage.update({f"decode.{k}": v for k, v in decode_stages.items() if k != "total"})
        stage.update({f"inference.{k}": v for k, v in (getattr(backend, "last_timings", None) or {}).items()})
        for k, v in stage.items():
            samples.setdefault(k, []).append(v)
        if on_gpu:
            used = gpu_used_mb()
            gpu_peak = max(filter(None, (gpu_peak, used)), default=None)
        _tick(bar)
    if bar is not None:
        bar.close()
    stats = {k: summarize(v) for k, v in samples.items()}
    median_total = stats["total"]["median"]
    result = {
        "case": case.to_dict(),
        "backend": getattr(backend, "name", type(backend).__name__),
        "providers": list(getattr(backend, "providers", []) or []),
        "spec": {"backbone": spec.backbone, "width": spec.input.width, "height": spec.input.height},
        "decode_fields": describe_fields(case),
        "decoder_impl": decoder_impl(case.decoder),
        "decoder_params": asdict(spec.decoder),
        "load_ms": load_ms,
        "ms": stats,
        "fps": case.batch * 1e3 / median_total if median_total > 0 else None,
        "players_decoded_median": float(np.median(players)) if players else None,
        "memory": {"peak_rss_mb": peak_rss_mb()},
        "torch_imported": "torch" in sys.modules,
    }
    device_bytes = getattr(backend, "device_memory_bytes", None)
    if isinstance(device_bytes, (int, float)):
        result["memory"]["engine_device_mb"] = device_bytes / 2**20
    if gpu_peak is not None:
        # cudaMemGetInfo counts the whole device (other processes too): run alone for a clean figure.
        result["memory"]["gpu_used_peak_mb"] = gpu_peak
    backend.close()
    return result


def _progress(total: int, label: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=label, unit="batch", file=sys.stderr, leave=False)


def _tick(bar) -> None:
    if bar is not None:
        bar.update(1)
