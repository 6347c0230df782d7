"""examples/c_decode: the C program builds against the core without Python and decodes like the reference."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dsl_deploy.decode import decode
from dsl_deploy.spec import ModelSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "c_decode"


def write_raw(path: Path, fields: dict[str, np.ndarray]) -> None:
    player, offset, pif = fields["player"][0], fields["offset"], fields["pif"]
    with open(path, "wb") as f:
        f.write(b"DSLF")
        np.int32([player.shape[0], player.shape[1], pif.shape[2], pif.shape[3]]).tofile(f)
        for a in (player, offset, pif):
            np.ascontiguousarray(a, np.float32).tofile(f)


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    if shutil.which("make") is None or shutil.which("c++") is None or shutil.which("cc") is None:
        pytest.skip("make, cc or c++ is not installed")
    build = tmp_path_factory.mktemp("c_decode")
    proc = subprocess.run(["make", "-C", str(EXAMPLE), f"BUILD={build}", "OPT=-O1"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return build / "decode_raw"


def test_decodes_like_the_reference(program: Path, tmp_path: Path) -> None:
    from dsl_deploy.data.encode import ideal_fields
    from dsl_deploy.data.synthetic import SyntheticScenes

    spec = ModelSpec(backbone="resnet18").with_input_size(193)
    _, ann = SyntheticScenes(1, 193, 193)[0]
    fields = ideal_fields(ann, spec, rng=np.random.default_rng(0), noise=0.5)
    raw = tmp_path / "fields.raw"
    write_raw(raw, fields)
    out = subprocess.run([str(program), str(raw), "2"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    ref = decode(fields, spec, impl="numpy")
    assert ref.num_players >= 1
    assert lines[0] == f"players {ref.num_players}"
    for i in range(ref.num_players):
        words = lines[1 + i].split()
        assert [float(v) for v in words[3:5]] == ref.centers[i].tolist()
        assert abs(float(words[6]) - float(ref.scores[i])) < 1e-5
        assert [float(v) for v in words[8:12]] == ref.boxes[i].tolist()
        assert int(words[13]) == int(ref.areas[i])
    ball = lines[1 + ref.num_players].split()
    if ref.ball is None:
        assert ball == ["ball", "none"]
    else:
        assert [float(ball[1]), float(ball[2])] == [ref.ball.x, ref.ball.y]


def test_reports_a_bad_file(program: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.raw"
    bad.write_bytes(b"NOPE" + bytes(16))
    out = subprocess.run([str(program), str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "not a DSLF fields file" in out.stderr
    short = tmp_path / "short.raw"
    short.write_bytes(b"DSLF" + np.int32([9, 9, 2, 2]).tobytes() + bytes(40))
    out = subprocess.run([str(program), str(short)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "truncated" in out.stderr
