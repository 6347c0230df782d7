"""One measured pipeline (an artifact, a backend, a decoder), timed stage by stage on synthetic frames."""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from ..decode.decoder import IMPLS
from ..errors import InputError
from ..result import FrameResult
from ..spec import ModelSpec
from .memory import gpu_used_mb, peak_rss_mb, runs_on_gpu
from .stats import summarize

if TYPE_CHECKING:
    from ..runtime.frame_step import FrameStep

DECODERS = (*IMPLS, "paper")  # our implementations, and the paper-style peer
READ_MODES = ("none", "jpeg")
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
    frame_size: list[int] | None = None  # [width, height] of the frames; None: the network input size
    read: str = "none"  # "jpeg": each frame is decoded from a JPEG first (the read stage), as from files
    host_path: str = "fast"  # resize, map and serialise of bench.host.HOST_PATHS ("today" for the peer)
    backend: str | None = None  # runtime of a .onnx file (backends.RUNTIMES): None for onnxruntime
    precision_hint: str | None = None  # OpenVINO's inference precision (backends.openvino.PRECISION_HINTS)
    agreement_dir: str | None = None  # folder for the outputs of the first agreement_frames frames, one .npz each
    agreement_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON)."""
        return asdict(self)


def describe_fields(case: Case) -> str:
    """The sentence the JSON carries about what the decoder was timed on."""
    if case.fields == "network":
        return "the network's own outputs on synthetic frames (meaningful only for a trained checkpoint)"
    return (f"fields encoded from the synthetic scenes' ground truth (dsl_deploy.data.encode.ideal_fields, "
            f"noise {case.noise} cells, {case.players} players per frame): as sparse as a trained network's, "
            "not random noise")


def make_decoder(name: str, spec: ModelSpec) -> Callable[[Mapping[str, np.ndarray]], FrameResult]:
    """A callable fields -> FrameResult for a decoder name of DECODERS (ours as the runtime makes them)."""
    if name not in DECODERS:
        raise InputError(f"decoder: {name!r} is not one of {', '.join(DECODERS)}")
    if name == "paper":
        from .paper_style import PaperStyleDecoder
        return PaperStyleDecoder(spec)
    from ..runtime.frame_step import make_decoder as runtime_decoder
    return runtime_decoder(name, spec)


def decoder_impl(name: str) -> str:
    """The implementation a decoder name runs here ('auto' resolved)."""
    if name == "paper":
        return "paper-style"
    from ..decode import resolve_impl
    return resolve_impl(name)


def _backend(case: Case):
    from ..backends import artifact_kind, backend_options, load_backend
    kind = artifact_kind(case.artifact)
    if kind == "checkpoint":
        import torch  # only the torch case pays for it

        if case.threads:
            torch.set_num_threads(case.threads)
        return load_backend(case.artifact)
    if kind == "onnx":
        options = backend_options(case.artifact, case.backend, threads=case.threads,
                                  precision_hint=case.precision_hint)
        return load_backend(case.artifact, case.backend, **options)
    return load_backend(case.artifact)


def _frames(case: Case, spec: ModelSpec) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
    """Synthetic frames at the case's frame size, and the ideal fields of their scenes at the network input."""
    from .host import broadcast_scenes

    w, h = case.frame_size or (spec.input.width, spec.input.height)
    scenes = broadcast_scenes(spec, w, h, players=case.players, count=max(1, case.distinct_frames), seed=case.seed,
                              noise=case.noise)
    return [s.frame for s in scenes], [s.fields for s in scenes]


def _save_parity_outputs(case: Case, backend: Any, spec: ModelSpec, frames: list[np.ndarray]) -> None:
    """The network outputs of the first batch, preprocessed the same way in every case (for the parity column)."""
    from ..preprocess import Preprocessor

    prep = Preprocessor(spec, resize="area", output=backend.preprocess_output)
    batch, _ = prep([frames[b % len(frames)] for b in range(case.batch)])
    out = backend.infer(batch)
    np.savez(str(case.save_outputs), **{k: v[:1] for k, v in out.items()})


def _save_agreement_outputs(case: Case, backend: Any, spec: ModelSpec, frames: list[np.ndarray]) -> None:
    """The network outputs of the first agreement_frames frames, one at a time, and the spec that decodes them: every
    case gets the same batches, so the decoded results compare across runtimes and precisions (bench/runtimes.py)."""
    from pathlib import Path

    from ..preprocess import Preprocessor

    folder = Path(str(case.agreement_dir))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(backend.spec.to_json(), encoding="utf-8")
    prep = Preprocessor(spec, resize="area", output=backend.preprocess_output)
    for i, frame in enumerate(frames[:case.agreement_frames]):  # one frame at a time: no extra peak memory
        batch, _ = prep([frame])
        np.savez(str(folder / f"frame{i}.npz"), **backend.infer(batch))


def run_case(case: Case, progress: bool = True) -> dict[str, Any]:
    """Time read, preprocess, inference, decode (each stage), map and serialise over warmup + iters batches, through
    the runtime's own FrameStep (the path Pipeline and streams take)."""
    import cv2

    from ..runtime.frame_step import FrameStep
    from .host import HOST_PATHS

    if case.fields not in FIELD_SOURCES:
        raise InputError(f"fields: {case.fields!r} is not one of {', '.join(FIELD_SOURCES)}")
    t_load = time.perf_counter()
    backend = _backend(case)
    on_gpu = runs_on_gpu(backend)
    gpu_peak = gpu_used_mb() if on_gpu else None
    spec = backend.spec.with_decoder(case.decoder_params)
    load_ms = (time.perf_counter() - t_load) * 1e3
    if case.host_path not in HOST_PATHS:
        raise InputError(f"host_path: {case.host_path!r} is not one of {', '.join(HOST_PATHS)}")
    if case.read not in READ_MODES:
        raise InputError(f"read: {case.read!r} is not one of {', '.join(READ_MODES)}")
    path = HOST_PATHS[case.host_path]
    # Ground-truth fields are decoded from the host: only the network's own may stay on the GPU.
    step = FrameStep(backend, make_decoder(case.decoder, spec), labels=path["labels"], resize=path["resize"],
                     decoder_params=case.decoder_params, device_handoff=case.fields == "network")
    frames, gt_fields = _frames(case, spec)
    encoded = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for f in frames] if case.read == "jpeg" \
        else None
    if case.save_outputs:
        _save_parity_outputs(case, backend, spec, frames)
    if case.agreement_dir and case.agreement_frames > 0:
        _save_agreement_outputs(case, backend, spec, frames)
    samples: dict[str, list[float]] = {}
    players: list[int] = []
    total_rounds = case.warmup + case.iters
    bar = _progress(total_rounds, case.label) if progress else None
    for r in range(total_rounds):
        idx = [(r * case.batch + b) % len(frames) for b in range(case.batch)]
        stage, result = _time_batch(step, case, r, [frames[i] for i in idx] if encoded is None else None,
                                    None if encoded is None else [encoded[i] for i in idx],
                                    [gt_fields[i] for i in idx] if case.fields == "ground-truth" else None)
        if r < case.warmup:
            _tick(bar)
            continue
        players.append(result.num_players)
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
    record: dict[str, Any] = {
        "case": case.to_dict(),
        "backend": getattr(backend, "name", type(backend).__name__),
        **({"inference_precision": backend.inference_precision} if hasattr(backend, "inference_precision") else {}),
        "providers": list(getattr(backend, "providers", []) or []),
        "spec": {"architecture": spec.architecture, "backbone": spec.backbone, "width": spec.input.width,
                 "height": spec.input.height, "precision": spec.precision},
        "frames": {"width": int(frames[0].shape[1]), "height": int(frames[0].shape[0]), "read": case.read,
                   "host_path": {"name": case.host_path, **path}},
        "decode_fields": describe_fields(case),
        "decoder_impl": decoder_impl(case.decoder),
        "fields_on_device": step.on_device,  # network outputs handed to the decoder on the GPU
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
        record["memory"]["engine_device_mb"] = device_bytes / 2**20
    if gpu_peak is not None:
        # cudaMemGetInfo counts the whole device (other processes too): run alone for a clean figure.
        record["memory"]["gpu_used_peak_mb"] = gpu_peak
    backend.close()
    return record


def _time_batch(step: FrameStep, case: Case, r: int, images: list[np.ndarray] | None, encoded: list[Any] | None,
                gt_fields: list[dict[str, np.ndarray]] | None) -> tuple[dict[str, float], FrameResult]:
    """ms per stage of one batch through the frame step (read when `encoded`; ground-truth fields decoded instead of
    the network's when given), and the last frame's decoded result."""
    import cv2

    from .host import serialise

    t_read = time.perf_counter()
    if encoded is not None:
        images = [np.asarray(cv2.imdecode(e, cv2.IMREAD_COLOR)) for e in encoded]
    assert images is not None
    t0 = time.perf_counter()
    batch, boxes, _ = step.preprocess(images)
    t1 = time.perf_counter()
    inferred = step.infer(batch)
    t2 = time.perf_counter()
    decoded = []
    for b in range(len(images)):
        if gt_fields is not None:
            decoded.append(step.decode(gt_fields[b])[0])
        elif inferred.decoded is not None:  # decoded on the GPU, inside step.infer
            decoded.append(inferred.decoded[b])
        else:
            decoded.append(step.decode(step.frame_fields(inferred.fields or {}, b))[0])
    t3 = time.perf_counter()
    mapped = [step.to_frame(res, lb)[0] for res, lb in zip(decoded, boxes)]
    t4 = time.perf_counter()
    for b, res in enumerate(mapped):
        serialise(res, r * case.batch + b)
    t5 = time.perf_counter()
    decode_ms = (t3 - t2) * 1e3 + sum(inferred.decode_ms)
    stage = {"preprocess": (t1 - t0) * 1e3, "inference": inferred.ms, "decode": decode_ms,
             "map": (t4 - t3) * 1e3, "serialise": (t5 - t4) * 1e3, "total": (t5 - t_read) * 1e3,
             "host": (t1 - t0) * 1e3 + decode_ms + (t5 - t3) * 1e3}
    if encoded is not None:
        stage["read"] = (t0 - t_read) * 1e3
    decode_stages: dict[str, float] = {}
    for res in decoded:
        for k, v in res.timings.items():
            decode_stages[k] = decode_stages.get(k, 0.0) + v
    stage.update({f"decode.{k}": v for k, v in decode_stages.items() if k != "total"})
    stage.update({f"inference.{k}": v for k, v in step.backend.last_timings.items()})
    return stage, decoded[-1]


def _progress(total: int, label: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=label, unit="batch", file=sys.stderr, leave=False)


def _tick(bar) -> None:
    if bar is not None:
        bar.update(1)
