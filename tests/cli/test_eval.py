"""dsl-eval, run as the installed command: known answers end to end, result files pycocotools reads, errors."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dsl_testing.commands import run_command
from dsl_testing.onnx_models import write_constant_fields_model

from dsl_deploy.data.encode import ideal_fields
from dsl_deploy.data.synthetic import SyntheticScenes
from dsl_deploy.spec import default_spec

SIZE = 129


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_command(args[0], *args[1:], cwd=cwd)


def write_oracle_model(path: Path, seed: int = 0) -> None:
    """An ONNX model that returns, for any input, the ideal fields of synthetic scene 0 of `seed`.

    Evaluated on that same scene (synthetic:1 at the input size: the letterbox is the identity), the
    whole dsl-eval path must give the round trip's perfect masks: a known answer for the CLI.
    """
    pytest.importorskip("onnx")
    spec = default_spec("resnet18", SIZE)
    _, ann = SyntheticScenes(seed, SIZE, SIZE)[0]
    write_constant_fields_model(path, spec, ideal_fields(ann, spec))


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oracle") / "oracle.onnx"
    write_oracle_model(path)
    return path


def _coco_eval(gt_path: Path, res_path: Path, iou_type: str) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(str(res_path)), iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def _oracle_expected(seed: int = 0) -> tuple[dict, object]:
    """The measures of the oracle's frame computed in-process (decode with the NumPy reference, Evaluator)."""
    from dsl_deploy.decode import decode
    from dsl_deploy.metrics.evaluator import Evaluator

    spec = default_spec("resnet18", SIZE)
    _, ann = SyntheticScenes(seed, SIZE, SIZE)[0]
    result = decode(ideal_fields(ann, spec), spec, impl="numpy")
    ev = Evaluator(spec)
    ev.add(result, ann)
    return ev.summary()["protocols"], result


def test_known_answer_and_result_files(oracle: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    r = _run("dsl-eval", "--model", str(oracle), "--data", "synthetic:1", "--out", str(out), "--decoder", "numpy",
             "--name", "oracle")
    assert r.returncode == 0, r.stderr
    title, head, _, row = r.stdout.splitlines()[:4]
    assert title.startswith("protocol paper: the authors' measures")  # the default protocol, named
    assert head.split() == ["Method", "bDQ", "pSQ", "pDQ", "AP", "AR", "F1", "ms", "MB"]
    assert "dsl-eval" in r.stderr  # the progress bar
    doc = json.loads((out / "summary.json").read_text())
    s = doc["summary"]
    cells = row.split()
    assert cells[0] == "oracle" and cells[1:7] == [f"{s[k]:.{2 if k == 'bDQ' else 1}f}"
                                                   for k in ("bDQ", "pSQ", "pDQ", "AP", "AR", "F1")]
    assert s["frames"] == 1 and s["failed"] == 0 and s["MB"] > 0 and s["ms"] > 0
    assert s["protocol"] == doc["settings"]["protocol"] == "paper" and set(s["protocols"]) == {"paper", "coco"}
    # Known answer: the whole command (ONNX model, Pipeline, letterbox, mapping back) scores this frame
    # exactly as the library does on the decoded ideal fields, under both protocols.
    expected, result = _oracle_expected()
    assert s["protocols"] == json.loads(json.dumps(expected))
    assert {k: s[k] for k in ("bDQ", "pSQ", "pDQ", "AP", "AR", "F1")} == {
        k: expected["paper"][k] for k in ("bDQ", "pSQ", "pDQ", "AP", "AR", "F1")}
    coco = s["protocols"]["coco"]
    assert coco["pSQ"] >= 95.0 and coco["AP"] >= 60.0  # the round trip's level (tests/test_roundtrip.py)
    # The result files are COCO: pycocotools scores the keypoints as the coco protocol's AP, and reads back
    # the masks of the decoded players.
    stats = _coco_eval(out / "groundtruth.json", out / "keypoints_results.json", "keypoints")
    assert 100 * stats[0] == pytest.approx(coco["AP"], abs=1e-3)
    from pycocotools import mask as mask_utils

    segs = json.loads((out / "segmentation_results.json").read_text())
    assert len(segs) == result.num_players
    for i, seg in enumerate(segs):
        rle = {"size": seg["segmentation"]["size"], "counts": seg["segmentation"]["counts"].encode()}
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), result.labels == i + 1)


def test_coco_protocol_table(oracle: Path, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    from dsl_deploy.cli import eval as eval_cli

    rc = eval_cli.main(["--model", str(oracle), "--data", "synthetic:1", "--no-progress", "--protocol", "coco",
                        "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    title, _, _, row = out.splitlines()[:4]
    doc = json.loads((tmp_path / "summary.json").read_text())
    s = doc["summary"]
    assert title.startswith("protocol coco: COCO OKS AP/AR") and s["protocol"] == "coco"
    cells = row.split()
    # The default row label names the file and its precision (FP32, FP16 and INT8 files side by side).
    assert cells[:2] == [oracle.name, "(fp32)"] and doc["precision"] == "fp32"
    assert cells[5] == f"{s['protocols']['coco']['AP']:.1f}" and s["AP"] == s["protocols"]["coco"]["AP"]


def test_decoder_set_overrides_a_rule_and_is_recorded(oracle: Path, tmp_path: Path) -> None:
    from dsl_deploy.cli import eval as eval_cli

    runs = {}
    for name, extra in (("default", []), ("no-filter", ["--decoder-set", "discard_mask_pixels=0",
                                                        "--decoder-set", "min_keypoints=0"])):
        assert eval_cli.main(["--model", str(oracle), "--data", "synthetic:1", "--no-progress", "--protocol", "coco",
                              "--out", str(tmp_path / name), *extra]) == 0
        runs[name] = json.loads((tmp_path / name / "summary.json").read_text())
    assert runs["default"]["decoder_params"]["nms_window"] == 13
    assert runs["default"]["decoder_params"]["discard_mask_pixels"] == 100
    assert runs["no-filter"]["decoder_params"]["discard_mask_pixels"] == 0
    assert runs["no-filter"]["decoder_params"]["min_keypoints"] == 0
    tp = {k: v["summary"]["protocols"]["coco"]["counts"]["players_tp"] for k, v in runs.items()}
    assert tp["no-filter"] >= tp["default"] >= 1


@pytest.mark.parametrize("item, message", [("nms_window=4", "decoder.nms_window"), ("window=3", "KEY=VALUE"),
                                           ("clamp=high", "not a valid float")])
def test_bad_decoder_set_fails_with_one_line(oracle: Path, item: str, message: str) -> None:
    r = _run("dsl-eval", "--model", str(oracle), "--data", "synthetic:1", "--decoder-set", item)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1 and lines[0].startswith("dsl-eval: error:") and message in lines[0]


def test_failed_frames_are_reported_and_counted(oracle: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    from dsl_deploy.cli import eval as eval_cli

    scenes = SyntheticScenes(0, SIZE, SIZE)
    image, ann = scenes[0]
    items = [(image, ann), (image.astype(np.float32), ann), (image, ann)]  # frame 1: not a uint8 image
    monkeypatch.setattr(eval_cli, "open_dataset", lambda *a, **k: eval_cli.EvalData("bad", items))
    rc = eval_cli.main(["--model", str(oracle), "--data", "synthetic:3", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "2 frames scored, 1 failed" in out
    fail_lines = [line for line in err.splitlines() if "failed" in line]
    assert len(fail_lines) == 1 and "frame" in fail_lines[0] and "uint8" in fail_lines[0]
    # Every frame failing is an error exit.
    monkeypatch.setattr(eval_cli, "open_dataset", lambda *a, **k: eval_cli.EvalData("bad", items[1:2]))
    assert eval_cli.main(["--model", str(oracle), "--data", "synthetic:1", "--no-progress"]) != 0
    assert "every one of the 1 frames failed" in capsys.readouterr().err


def test_ctrl_c_keeps_the_frames_scored(oracle: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    from dsl_deploy.cli import eval as eval_cli

    image, ann = SyntheticScenes(0, SIZE, SIZE)[0]

    class InterruptedAtFrame2(list):
        def __getitem__(self, i):
            if i == 2:
                os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C while frame 2 is read
            return super().__getitem__(i)

    items = InterruptedAtFrame2([(image, ann)] * 6)
    monkeypatch.setattr(eval_cli, "open_dataset", lambda *a, **k: eval_cli.EvalData("synthetic", items))
    previous = signal.getsignal(signal.SIGINT)
    rc = eval_cli.main(["--model", str(oracle), "--data", "synthetic:6", "--no-progress", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 130 and signal.getsignal(signal.SIGINT) is previous
    assert "stopped by SIGINT after 3 of 6 frames" in err and "3 frames scored, 0 failed" in out
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert doc["stopped_by"] == "SIGINT" and doc["frames_requested"] == 6 and doc["summary"]["frames"] == 3
    expected = _oracle_expected()[0]["paper"]  # three copies of one frame: that frame's PQ terms
    assert (doc["summary"]["pSQ"], doc["summary"]["pDQ"]) == (expected["pSQ"], expected["pDQ"])
    assert len({r["image_id"] for r in json.loads((tmp_path / "keypoints_results.json").read_text())}) == 3


def test_coco_json_data_with_a_missing_image(oracle: Path, tmp_path: Path) -> None:
    import cv2

    from dsl_deploy.metrics.coco_format import coco_document, groundtruth_records

    scenes = SyntheticScenes(0, SIZE, SIZE)
    images, anns = [], []
    for i in range(2):
        image, ann = scenes[i]
        entry, records = groundtruth_records(ann, 10 + i, len(anns) + 1, file_name=f"scene{i}.png")
        images.append(entry)
        anns += records
        if i == 0:  # scene 1's image file is left out: that frame must fail, alone
            cv2.imwrite(str(tmp_path / entry["file_name"]), image)
    (tmp_path / "gt.json").write_text(json.dumps(coco_document(images, anns)))
    r = _run("dsl-eval", "--model", str(oracle), "--data", str(tmp_path / "gt.json"), "--out", str(tmp_path / "o"),
             "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "1 frames scored, 1 failed" in r.stdout
    assert "frame scene1.png: failed:" in r.stderr and "missing" in r.stderr
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    # Frame 0 scored as the library scores the oracle's decoded fields against the JSON's annotation.
    from dsl_deploy.data.coco import CocoDataset
    from dsl_deploy.decode import decode
    from dsl_deploy.metrics.evaluator import Evaluator

    spec = default_spec("resnet18", SIZE)
    ev = Evaluator(spec)
    frame0 = CocoDataset(tmp_path / "gt.json", tmp_path)[0][1]
    ev.add(decode(ideal_fields(scenes[0][1], spec), spec, impl="numpy"), frame0)
    assert doc["summary"]["protocols"] == json.loads(json.dumps(ev.summary()["protocols"]))
    assert doc["summary"]["pSQ"] >= 95.0
    assert doc["failures"][0]["frame"] == "scene1.png"
    kps = json.loads((tmp_path / "o" / "keypoints_results.json").read_text())
    assert kps and {k["image_id"] for k in kps} == {10}  # the dataset's own image ids


def test_onnx_evaluation_never_imports_torch(oracle: Path) -> None:
    code = ("import sys; from dsl_deploy.cli.eval import main; "
            f"rc = main(['--model', {str(oracle)!r}, '--data', 'synthetic:1', '--no-progress']); "
            "sys.exit(rc or (3 if 'torch' in sys.modules else 0))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def _write_deepsport(root: Path) -> None:
    """A one-image folder in the Basketball Instants Dataset layout: one player, one ball, no distortion."""
    import cv2

    game = root / "ARENA" / "7"
    game.mkdir(parents=True)
    w, h = 160, 120
    cv2.imwrite(str(game / "camcourt1_500_0.png"), np.full((h, w, 3), 80, np.uint8))
    (game / "camcourt1_500.json").write_text(json.dumps({"calibration": {
        "img_width": w, "img_height": h, "KK": [100.0, 0, 80.0, 0, 100.0, 60.0, 0, 0, 1],
        "R": [1, 0, 0, 0, 1, 0, 0, 0, 1], "T": [0, 0, 1000], "kc": [0, 0, 0, 0, 0]}}))
    humans = np.zeros((h, w), np.uint16)
    humans[35:86, 70:91] = 1000
    cv2.imwrite(str(game / "camcourt1_500_humans.png"), humans)
    player = {"type": "player", "head": [0, -200, 0], "hips": [0, 0, 0], "foot1": [-50, 200, 0],
              "foot2": [50, 200, 0], "image": 0}
    ball = {"type": "ball", "center": [300, 0, 0], "image": 0, "visible": True}
    (root / "basketball-instants-dataset.json").write_text(json.dumps([{
        "arena_label": "ARENA", "game_id": 7, "timestamp": 500, "num_cameras": 1, "offsets": [0],
        "annotations": [player, ball]}]))


def test_deepsport_folder(oracle: Path, tmp_path: Path) -> None:
    _write_deepsport(tmp_path / "ds")
    r = _run("dsl-eval", "--model", str(oracle), "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "o"),
             "--no-progress")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "o" / "summary.json").read_text())["summary"]
    assert s["frames"] == 1 and s["failed"] == 0 and s["pose_format"] == "deepsport"
    assert s["counts"]["balls"] == 1
    bad = _run("dsl-eval", "--model", str(oracle), "--data", str(tmp_path), "--no-progress")
    assert bad.returncode != 0 and "basketball-instants-dataset.json" in bad.stderr


def test_frames_of_another_size_map_back(oracle: Path) -> None:
    r = _run("dsl-eval", "--model", str(oracle), "--data", "synthetic:2", "--frame-size", "200x100",
             "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "2 frames scored, 0 failed" in r.stdout
    bad = _run("dsl-eval", "--model", str(oracle), "--data", "synthetic:2", "--frame-size", "20x10")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith("dsl-eval: error: --frame-size")


@pytest.mark.parametrize("args, message", [
    (["--data", "synthetic:0"], "synthetic:N"),
    (["--data", "nowhere/at/all"], "no such file or folder"),
    (["--data", ""], "--data '': no such file or folder"),
    (["--data", "synthetic:2", "--limit", "0"], "--limit"),
    (["--data", "synthetic:2", "--tp-radii", "0"], "--tp-radii"),
    (["--data", "synthetic:2", "--out", __file__], "exists and is not a folder"),
])
def test_bad_arguments_fail_with_one_line(oracle: Path, args: list[str], message: str) -> None:
    r = _run("dsl-eval", "--model", str(oracle), *args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsl-eval: error:") and message in lines[0], r.stderr


def test_missing_model_and_unknown_artifact(tmp_path: Path) -> None:
    r = _run("dsl-eval", "--model", str(tmp_path / "none.onnx"), "--data", "synthetic:1")
    assert r.returncode != 0 and "no such file" in r.stderr
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx file")
    r = _run("dsl-eval", "--model", str(junk), "--data", "synthetic:1")
    assert r.returncode != 0 and r.stderr.strip().startswith("dsl-eval: error:") and "Traceback" not in r.stderr


def test_help_explains_every_option() -> None:
    r = _run("dsl-eval", "--help")
    assert r.returncode == 0
    for opt in ("--model", "--data", "--out", "--decoder", "--limit", "--threads", "--images", "--coco-filter",
                "--scale", "--seed", "--frame-size",
                "--protocol", "--court-rule", "--tp-radii", "--tp-min-px", "--name", "--no-progress"):
        assert opt in r.stdout
    assert "default" in r.stdout and "synthetic:N" in r.stdout


@pytest.mark.slow
@pytest.mark.torch
def test_real_exported_network(tmp_path: Path) -> None:
    """The real (untrained) resnet18 network exported at 129x129: the run completes on every frame.

    (A checkpoint goes through the same Pipeline via load_backend; the ONNX path is the one a capture
    box runs, so it is the one exercised here, within the test budget.)
    """
    r = _run("dsl-train", "--init-only", "--backbone", "resnet18", "--size", str(SIZE), "-o", "m.pth", cwd=tmp_path)
    if r.returncode != 0:
        pytest.skip(f"dsl-train --init-only is not usable here: {r.stderr.strip()[-200:]}")
    r = _run("dsl-export", "m.pth", "-o", "m.onnx", "--no-parity", "--no-simplify", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _run("dsl-eval", "--model", "m.onnx", "--data", "synthetic:3", "--out", "out", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "out" / "summary.json").read_text())["summary"]
    assert s["frames"] == 3 and s["failed"] == 0 and s["ms"] > 0


def test_f12_out_folder_is_not_created_when_the_model_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "junk.onnx").write_text("not an onnx model")
    r = _run("dsl-eval", "--model", str(tmp_path / "junk.onnx"), "--data", "synthetic:1", "--out",
             str(tmp_path / "out"), "--no-progress")
    assert r.returncode == 1 and "not a readable ONNX model" in r.stderr
    assert not (tmp_path / "out").exists()


def test_f1_out_folder_never_overwrites_the_data_file(oracle: Path, tmp_path: Path) -> None:
    data = tmp_path / "summary.json"  # a COCO file named as one of the results
    data.write_text("{}")
    r = _run("dsl-eval", "--model", str(oracle), "--data", str(data), "--out", str(tmp_path), "--no-progress")
    assert r.returncode == 1 and "holds the --data file summary.json, which the run would overwrite" in r.stderr
    assert data.read_text() == "{}"


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["annotations"][0].update(image_id=[10]), "field 'annotations[0].image_id' is a list of 1 item(s)"),
    (lambda d: d.update(info=json.loads("[" * 5000 + "]" * 5000)), "the COCO JSON file is nested too deeply"),
])
def test_f4_f6_malformed_coco_data_is_one_line_not_an_internal_error(oracle: Path, tmp_path: Path, mutate,
                                                                    message: str) -> None:
    from dsl_deploy.metrics.coco_format import coco_document, groundtruth_records

    image, ann = SyntheticScenes(0, SIZE, SIZE)[0]
    entry, records = groundtruth_records(ann, 10, 1, file_name="scene0.png")
    doc = coco_document([entry], records)
    mutate(doc)
    sys.setrecursionlimit(20_000)  # json.dumps of the deep document below recurses
    (tmp_path / "gt.json").write_text(json.dumps(doc))
    r = _run("dsl-eval", "--model", str(oracle), "--data", str(tmp_path / "gt.json"), "--no-progress")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsl-eval: error: ") and message in lines[0], r.stderr
    assert "internal error" not in r.stderr
