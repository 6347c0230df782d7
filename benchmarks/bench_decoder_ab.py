"""Native decoder, one build against another in the same process: a git revision's csrc/ against the working tree's.

On a shared machine whose speed drifts by a third between runs, two separate runs cannot tell a 10% change from
the drift. Here both builds of the C ABI (csrc/include/dsl_decode.h, compiled as setup.py compiles the extension)
are loaded side by side and decode the same frames alternately (which goes first alternates too), so the drift
hits both alike; every frame's outputs (labels, keypoints, scores, centres, boxes, ball) must be identical.
The frames are broadcast scenes (bench.host.broadcast_scenes: 1920x1080, 10 players, letterboxed into 641x641).

    python benchmarks/bench_decoder_ab.py --base HEAD~3 --pin-core 1
    python benchmarks/bench_decoder_ab.py --base v0.9 --frame-size 1280x720 --passes 10

Writes benchmarks/results/decoder-ab-<machine>.json: per stage min/median/max of each build, base/new ratios.
"""
from __future__ import annotations

import argparse
import ctypes
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from dsl_deploy.decode.cuda import DecodeOutput, DecodeParams, decode_params
from dsl_deploy.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("fuse", "maxima", "assign", "poses", "ball", "total")  # dsl_output.timings_ms, DSL_STAGE_* order
SOURCES = ("decoder.cpp", "fuse.cpp", "assign.cpp", "maxima.cpp")  # the decoder's part of csrc/src
FLAGS = ["-std=c++17", "-O3", "-ffp-contract=off", "-fPIC", "-shared"]  # setup.py's, as a shared library


class Fields(ctypes.Structure):
    """dsl_fields (the CUDA library's ctypes side declares dsl_params and dsl_output, reused here)."""

    _fields_ = [("player", ctypes.c_void_p), ("offset", ctypes.c_void_p), ("pif", ctypes.c_void_p),
                ("height", ctypes.c_int32), ("width", ctypes.c_int32), ("pif_height", ctypes.c_int32),
                ("pif_width", ctypes.c_int32)]


def build(csrc: Path, out: Path) -> Path:
    """Compile the decoder sources under `csrc` into the shared library `out`."""
    cxx = os.environ.get("CXX", "c++")
    cmd = [cxx, *FLAGS, "-fopenmp", f"-I{csrc / 'include'}", *(str(csrc / "src" / s) for s in SOURCES), "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bench_decoder_ab: building {csrc} failed:\n{res.stderr[-2000:]}")
    return out


def checkout_csrc(ref: str, dest: Path) -> str:
    """csrc/ of git revision `ref` extracted under `dest`; returns the revision's commit."""
    def git(*args: str) -> bytes:
        res = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True)
        if res.returncode != 0:
            raise SystemExit(f"bench_decoder_ab: git {' '.join(args)}: {res.stderr.decode(errors='replace').strip()}")
        return res.stdout

    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    with tarfile.open(fileobj=io.BytesIO(git("archive", commit, "csrc")), mode="r:") as tar:
        try:
            tar.extractall(dest, filter="data")
        except TypeError:  # Python before 3.11.4 has no extraction filters (git archive's output is plain files)
            tar.extractall(dest)
    return commit


class NativeBuild:
    """One build of the C ABI with a decoder made from a ModelSpec's decoder parameters (one thread)."""

    def __init__(self, path: Path, spec: ModelSpec):
        self.lib = ctypes.CDLL(str(path))
        self.lib.dsl_decoder_create.restype = ctypes.c_void_p
        self.lib.dsl_decoder_create.argtypes = [ctypes.POINTER(DecodeParams)]
        self.lib.dsl_decoder_decode.argtypes = [ctypes.c_void_p, ctypes.POINTER(Fields), ctypes.POINTER(DecodeOutput)]
        self.lib.dsl_decoder_last_error.restype = ctypes.c_char_p
        self.params = decode_params(spec)
        self.handle = self.lib.dsl_decoder_create(ctypes.byref(self.params))
        if not self.handle:
            raise SystemExit(f"bench_decoder_ab: {path}: {self.lib.dsl_decoder_last_error().decode()}")

    def decode(self, f: Fields, plane: int) -> tuple[list[float], tuple]:
        """Decode one frame: (ms per stage, the outputs as bytes for comparison)."""
        out = DecodeOutput()
        if self.lib.dsl_decoder_decode(self.handle, ctypes.byref(f), ctypes.byref(out)) != 0:
            raise SystemExit(f"bench_decoder_ab: decode failed: {self.lib.dsl_decoder_last_error().decode()}")
        n = out.num_players

        def grab(ptr: int, ctype: type, count: int) -> bytes:
            return ctypes.string_at(ptr, ctypes.sizeof(ctype) * count) if count else b""

        outputs = (n, grab(out.labels, ctypes.c_int32, plane), grab(out.keypoints, ctypes.c_float, n * 51),
                   grab(out.scores, ctypes.c_float, n), grab(out.centers, ctypes.c_float, 2 * n),
                   grab(out.boxes, ctypes.c_float, 4 * n), out.has_ball, tuple(out.ball))
        return list(out.timings_ms), outputs

    def close(self) -> None:
        """Destroy the decoder."""
        if self.handle:
            self.lib.dsl_decoder_destroy(ctypes.c_void_p(self.handle))
            self.handle = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="HEAD", help="git revision whose csrc/ is the base (default HEAD)")
    parser.add_argument("--frame-size", default="1920x1080", metavar="WxH", help="frame size (default 1920x1080)")
    parser.add_argument("--size", type=int, default=641, help="network input size (default 641)")
    parser.add_argument("--players", type=int, default=10, help="players per scene (default 10)")
    parser.add_argument("--scenes", type=int, default=8, help="distinct scenes, decoded in turn (default 8)")
    parser.add_argument("--passes", type=int, default=20, help="timed passes over the scenes (default 20)")
    parser.add_argument("--pin-core", type=int, default=None, help="run on this CPU core only")
    parser.add_argument("--out", type=Path, default=None, help="output JSON (default under benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.pin_core is not None:
        os.sched_setaffinity(0, {args.pin_core})

    from dsl_deploy.bench.host import broadcast_scenes, parse_frame_size
    from dsl_deploy.bench.report import write_json
    from dsl_deploy.bench.stats import ratio, summarize
    from dsl_deploy.decode.fields import full_resolution
    from dsl_deploy.machine import machine_info, machine_slug
    from dsl_deploy.spec import default_spec

    width, height = parse_frame_size(args.frame_size)
    spec = default_spec("resnet18", args.size)
    with tempfile.TemporaryDirectory(prefix="dsl-ab-") as tmp:
        folder = Path(tmp)
        commit = checkout_csrc(args.base, folder / "base")
        print(f"building base {args.base} ({commit[:10]}) and the working tree ...", file=sys.stderr)
        builds = {"base": NativeBuild(build(folder / "base" / "csrc", folder / "base.so"), spec),
                  "new": NativeBuild(build(ROOT / "csrc", folder / "new.so"), spec)}
        scenes = broadcast_scenes(spec, width, height, players=args.players, count=args.scenes)
        frames = []
        for scene in scenes:
            player, offset, pif = (np.ascontiguousarray(a, np.float32) for a in full_resolution(scene.fields, spec))
            f = Fields(player.ctypes.data, offset.ctypes.data, pif.ctypes.data, player.shape[-2], player.shape[-1],
                       pif.shape[-2], pif.shape[-1])
            frames.append((f, player.shape[-2] * player.shape[-1], (player, offset, pif)))  # arrays kept alive
        samples: dict[str, dict[str, list[float]]] = {name: {s: [] for s in STAGES} for name in builds}
        differ: list[int] = []
        for p in range(args.passes + 1):  # pass 0 warms up and compares the outputs
            for i, (f, plane, _) in enumerate(frames):
                order = ("base", "new") if (p + i) % 2 == 0 else ("new", "base")
                got = {name: builds[name].decode(f, plane) for name in order}
                if p == 0:
                    if got["base"][1] != got["new"][1]:
                        differ.append(i)
                    continue
                for name, (ms, _) in got.items():
                    for stage, v in zip(STAGES, ms):
                        samples[name][stage].append(v)
        for b in builds.values():
            b.close()
    stats = {name: {stage: summarize(v) for stage, v in s.items()} for name, s in samples.items()}
    ratios = {stage: ratio(stats["base"][stage]["median"], stats["new"][stage]["median"]) for stage in STAGES}
    info = machine_info()
    report = {
        "benchmark": "native decoder, base build against the working tree, same process", "machine": info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"base": args.base, "base_commit": commit, "frame_size": [width, height],
                     "input": [args.size, args.size], "players": args.players, "scenes": args.scenes,
                     "passes": args.passes, "pin_core": args.pin_core, "threads": 1, "flags": FLAGS},
        "ms": stats, "base_over_new": ratios,
        "outputs_identical": f"{len(frames) - len(differ)} of {len(frames)} scenes",
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"decoder-ab-{machine_slug(info)}.json"
    write_json(report, out)
    print(f"{'stage, median ms (min-max)':<28} {'base':>22} {'new':>22} {'base/new':>9}")
    for stage in STAGES:
        a, b = stats["base"][stage], stats["new"][stage]
        print(f"{stage:<28} {a['median']:8.3f} ({a['min']:.2f}-{a['max']:.2f}) {b['median']:8.3f} "
              f"({b['min']:.2f}-{b['max']:.2f}) {ratios[stage] or float('nan'):8.2f}x")
    print(f"outputs identical: {report['outputs_identical']}; wrote {out}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
