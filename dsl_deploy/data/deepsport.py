"""The DeepSport basketball dataset ("Basketball Instants Dataset") in its published layout.

Layout, as documented by its public tools (the Kaggle dataset deepsportradar/basketball-instants-dataset;
gitlab deepsport/deepsport_utilities `ds/instants_dataset/instants_dataset.py` and its `court.py`;
github DeepSportradar/instance-segmentation-challenge `tools/gen_annotations.py`; github
ispgroupucl/calib3d `calib.py` for the camera model):

    <root>/basketball-instants-dataset.json       list of instants: arena_label, game_id, timestamp,
                                                  num_cameras, offsets, rule_type, annotations
    <root>/<arena_label>/<game_id>/camcourt<c>_<timestamp>_<offset>.png   image of camera c (1-based)
    <root>/<arena_label>/<game_id>/camcourt<c>_<timestamp>.json           {"calibration": {img_width,
                                                  img_height, KK (3x3), R (3x3), T (3), kc (5)}}
    <root>/<arena_label>/<game_id>/camcourt<c>_<timestamp>_humans.png     16-bit instance map; values
                                                  1000..1999 are humans, one value per instance

Annotations are 3-D, in world centimetres: players {"type": "player", "head", "hips", "foot1", "foot2",
"image"} and balls {"type": "ball", "center", "image", "visible"}, "image" being the 0-based camera index.
Points project as x_c = R X + T, p = K x_c, then the lens distortion of calib3d (OpenCV's k1, k2, p1, p2,
k3 order, applied in normalised coordinates; points far outside the image are left undistorted).
Poses are the 4 DeepSport keypoints (head, hip, foot1, foot2; pose_format 'deepsport', for evaluation):
each projected pose is matched to the mask containing most of its points. The ball radius is the
projected radius of a 23.8 cm ball. Other non-zero values of the human map become the ignore mask.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import DataError, printable
from ..schema import Fields, Where, describe, parse_json
from .annotations import Annotation
from .augment import warp
from .image_file import read_image_file

DATABASE = "basketball-instants-dataset.json"
MAX_CAMERAS = 64  # cameras per instant (the dataset has 1 or 2); the index of one instant is built eagerly
MAX_SIDE = 65535  # largest image side a calibration may declare
MAX_CM = 1e7  # world coordinates beyond 100 km are not on a court (and overflow the projection's float maths)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,127}")
BALL_DIAMETER_CM = 23.8
POSE_PARTS = ("head", "hips", "foot1", "foot2")
# Court size (length, width) in cm by rule type, for the optional court mask.
COURT_CM = {"FIBA": (2800.0, 1500.0), "NBA": (2865.0, 1524.0), "NCAA": (2865.12, 1524.0)}


@dataclass(frozen=True)
class Camera:
    """A calibrated camera: x_pixel = distort(K (R X + T))."""

    width: int
    height: int
    K: np.ndarray
    R: np.ndarray
    T: np.ndarray
    kc: np.ndarray

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[N,3] world points -> ([N,2] pixels, [N] depth in the camera frame)."""
        xc = np.asarray(points, np.float64).reshape(-1, 3) @ self.R.T + self.T
        depth = xc[:, 2]
        p = xc @ self.K.T
        z = np.where(np.abs(p[:, 2]) > 1e-12, np.abs(p[:, 2]), 1e-12)
        uv = p[:, :2] / z[:, None]
        if np.any(self.kc):
            k1, k2, p1, p2, k3 = self.kc
            n = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(self.K).T
            x, y = n[:, 0], n[:, 1]
            r2 = x * x + y * y
            radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
            xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            yd = y * radial + 2 * p2 * x * y + p1 * (r2 + 2 * y * y)
            dist = np.c_[xd, yd, np.ones(len(uv))] @ self.K.T
            far = ((uv[:, 0] < -self.width) | (uv[:, 0] > 2 * self.width)
                   | (uv[:, 1] < -self.height) | (uv[:, 1] > 2 * self.height))
            uv = np.where(far[:, None], uv, dist[:, :2])
        return uv, depth


def read_camera(path: Path) -> Camera:
    """Parse a camcourt<c>_<timestamp>.json calibration file; DataError naming the file and the field."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: calibration file is missing") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the calibration ({exc.strerror or exc})") from None
    doc = parse_json(raw, source=str(path), error=DataError, what="DeepSport calibration", max_bytes=1 << 20)
    where = Where(str(path), DataError)
    cal = Fields(doc, where=where).fields("calibration")
    width, height = cal.integer("img_width", 1, MAX_SIDE), cal.integer("img_height", 1, MAX_SIDE)
    K = _matrix(where, cal.get("KK"), "calibration.KK", (3, 3), 1e7)
    R = _matrix(where, cal.get("R"), "calibration.R", (3, 3), 10.0)
    T = _matrix(where, cal.get("T"), "calibration.T", (3,), 1e8)
    kc = _matrix(where, cal.get("kc", [0.0] * 5), "calibration.kc", (5,), 1e3)
    det = float(np.linalg.det(K))
    if not abs(det) > 1e-9 or not np.linalg.cond(K) < 1e12:
        raise DataError(f"{path}: field 'calibration.KK' is singular (determinant {det:.3g}); expected an "
                        "invertible camera matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]")
    return Camera(width, height, K, R, T, kc)


def _matrix(where: Where, value: Any, field: str, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """A float64 array of `shape` from a flat or nested list of finite numbers within [-bound, bound]."""
    flat = value
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        flat = [v for row in value for v in row]
    n = int(np.prod(shape))
    return np.asarray(where.numbers(flat, field, -bound, bound, count=n), np.float64).reshape(shape)


@dataclass(frozen=True)
class _Item:
    instant: int  # index into the database list
    camera: int  # 0-based
    stem: Path  # <root>/<arena>/<game>/camcourt<c>_<timestamp>


class DeepSportDataset:
    """`dataset[i] -> (image_bgr, Annotation)`, one item per (instant, camera) that has a human mask."""

    def __init__(self, root: str | Path, *, database: str = DATABASE, scale: float = 1.0,
                 require_masks: bool = True, with_court: bool = False):
        self.root = Path(root)
        self.db_path = self.root / database
        if scale <= 0:
            raise DataError(f"DeepSportDataset: scale must be positive, got {scale}")
        self.scale, self.with_court = float(scale), with_court
        try:
            raw = self.db_path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{self.db_path}: DeepSport database file not found (expected the Basketball Instants "
                            f"Dataset layout: {database} next to the arena folders)") from None
        except OSError as exc:
            raise DataError(f"{self.db_path}: cannot read the database ({exc.strerror or exc})") from None
        self.db = parse_json(raw, source=str(self.db_path), error=DataError, what="DeepSport database")
        if not isinstance(self.db, list):
            raise DataError(f"{self.db_path}: expected a JSON list of instants, found {type(self.db).__name__}")
        self.items: list[_Item] = []
        self._where = Where(str(self.db_path), DataError)
        for n, inst in enumerate(self.db):
            self._check_instant(n, inst)
            folder = self.root / str(inst["arena_label"]) / str(inst["game_id"])
            for c in range(int(inst["num_cameras"])):
                stem = folder / f"camcourt{c + 1}_{inst['timestamp']}"
                if require_masks and not Path(f"{stem}_humans.png").is_file():
                    continue
                self.items.append(_Item(n, c, stem))

    def _check_instant(self, n: int, inst: Any) -> None:
        where = f"{self.db_path}: instant [{n}]"
        if not isinstance(inst, dict):
            raise DataError(f"{where}: expected an object")
        for key in ("arena_label", "game_id", "timestamp", "num_cameras"):
            if key not in inst:
                raise DataError(f"{where}: missing '{key}'")
        f = self._where.fields(inst, f"[{n}]")
        cameras = inst["num_cameras"]
        if isinstance(cameras, bool) or not isinstance(cameras, int) or not 1 <= cameras <= MAX_CAMERAS:
            raise DataError(f"{where}: num_cameras must be an integer in [1, {MAX_CAMERAS}], got {describe(cameras)}")
        for key in ("arena_label", "game_id", "timestamp"):  # each becomes one component of a file name
            value = f.get(key)
            text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
            if not _NAME.fullmatch(text) or text in (".", ".."):
                raise DataError(f"{where}: '{key}' must be a name or a number usable in a file name, got "
                                f"{describe(value)}")
        offsets = inst.get("offsets")
        if offsets is not None and not (isinstance(offsets, list) and offsets and all(
                isinstance(v, int) and not isinstance(v, bool) and abs(v) < 1 << 62 for v in offsets)):
            raise DataError(f"{where}: 'offsets' must be a non-empty list of integers (the image offsets), got "
                            f"{describe(offsets)}")
        if inst.get("rule_type") is not None:
            f.string("rule_type", max_len=32)
        anns = inst.get("annotations") or []
        if not isinstance(anns, list):
            raise DataError(f"{where}: 'annotations' must be a list")
        for k, a in enumerate(anns):
            aw = f"{where} annotations[{k}]"
            if not isinstance(a, dict) or a.get("type") not in ("player", "ball"):
                raise DataError(f"{aw}: expected an object with type 'player' or 'ball'")
            for key in (POSE_PARTS if a["type"] == "player" else ("center",)):
                v = a.get(key)
                if not (isinstance(v, list) and len(v) == 3 and all(
                        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                        and abs(x) <= MAX_CM for x in v)):
                    raise DataError(f"{aw}: '{key}' must be a 3-D point [x, y, z] of finite cm within "
                                    f"{MAX_CM:g}, got {printable(str(v), 80)}")
            image = a.get("image")
            if isinstance(image, bool) or not isinstance(image, int):
                raise DataError(f"{aw}: 'image' (the camera index) must be an integer, got {describe(image)}")
            if a.get("visible") is not None and not isinstance(a.get("visible"), bool):
                raise DataError(f"{aw}: 'visible' must be true or false, got {describe(a.get('visible'))}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, Annotation]:
        """Image (BGR uint8) and annotation of item `index`, scaled by `scale`."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.db_path}: index {index} out of range for {len(self)} items")
        item = self.items[index]
        inst = self.db[item.instant]
        offset = (inst.get("offsets") or [0])[0]
        img_path = Path(f"{item.stem}_{offset}.png")
        image = read_image_file(img_path)
        if image is None:
            raise DataError(f"{img_path}: image is missing or unreadable")
        cam = read_camera(Path(f"{item.stem}.json"))
        h, w = image.shape[:2]
        if (cam.width, cam.height) != (w, h):
            raise DataError(f"{item.stem}.json: calibration is for {cam.width}x{cam.height} but {img_path.name} is "
                            f"{w}x{h}")
        ann = self._annotation(item, inst, cam, h, w)
        if self.scale != 1.0:
            nw, nh = max(1, round(w * self.scale)), max(1, round(h * self.scale))
            sx, sy = nw / w, nh / h
            m = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]])
            _, ann = warp(image, ann, m, nw, nh)
            image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR)
        return image, ann

    def _masks(self, item: _Item, h: int, w: int) -> tuple[np.ndarray, np.ndarray | None]:
        path = Path(f"{item.stem}_humans.png")
        if not path.is_file():
            return np.zeros((h, w), np.int32), None
        raw = read_image_file(path, cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 2:
            raise DataError(f"{path}: expected a single-channel (16-bit) instance map, got "
                            f"{'unreadable file' if raw is None else raw.shape}")
        if raw.shape != (h, w):
            raise DataError(f"{path}: mask is {raw.shape[1]}x{raw.shape[0]} but the image is {w}x{h}")
        ids = np.unique(raw)
        humans = ids[(ids >= 1000) & (ids < 2000)]
        table = np.zeros(int(ids.max()) + 1, np.int32)
        table[humans] = np.arange(1, len(humans) + 1, dtype=np.int32)
        labels = table[raw]
        other = (raw > 0) & (labels == 0)
        return labels, (other if other.any() else None)

    def _annotation(self, item: _Item, inst: dict, cam: Camera, h: int, w: int) -> Annotation:
        labels, ignore = self._masks(item, h, w)
        n = int(labels.max())
        kps = np.zeros((n, 4, 3), np.float32)
        anns = [a for a in (inst.get("annotations") or []) if a["image"] == item.camera]
        poses = []
        for a in (a for a in anns if a["type"] == "player"):
            uv, depth = cam.project(np.array([a[p] for p in POSE_PARTS], float))
            inside = (depth > 0) & (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5)
            poses.append((uv, inside))
        # Greedy matching: most projected points on a mask first; a pose no mask contains is dropped.
        scores = []
        for p, (uv, inside) in enumerate(poses):
            hits = np.zeros(n + 1, int)
            for (x, y), ok in zip(uv, inside):
                if ok:
                    hits[labels[int(round(y)), int(round(x))]] += 1
            for m in np.flatnonzero(hits[1:]) + 1:
                scores.append((-hits[m], p, int(m)))
        used_p, used_m = set(), set()
        for _s, p, m in sorted(scores):
            if p in used_p or m in used_m:
                continue
            used_p.add(p)
            used_m.add(m)
            uv, inside = poses[p]
            kps[m - 1, :, :2] = np.where(inside[:, None], uv, 0.0)
            kps[m - 1, :, 2] = np.where(inside, 2.0, 0.0)
        ball = None
        for a in (a for a in anns if a["type"] == "ball"):
            if a.get("visible") is False:
                continue
            uv, depth = cam.project(np.array(a["center"], float))
            x, y = uv[0]
            if depth[0] > 0 and -0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5:
                ball = (float(x), float(y), float(cam.K[0, 0] * BALL_DIAMETER_CM / 2 / depth[0]))
                break
        court = self._court(inst, cam, h, w) if self.with_court else None
        ann = Annotation(labels, kps, ball=ball, ignore=ignore, court=court,
                         image_id=str(item.stem.relative_to(self.root)), pose_format="deepsport")
        return ann.validate(f"{item.stem}")

    @staticmethod
    def _court(inst: dict, cam: Camera, h: int, w: int) -> np.ndarray | None:
        """Floor rectangle [0, length] x [0, width] at z = 0, projected (its edges sampled for the distortion)."""
        rule = str(inst.get("rule_type", "FIBA"))
        size = COURT_CM.get(rule) or COURT_CM.get(rule[:4]) or COURT_CM["FIBA"]
        t = np.linspace(0.0, 1.0, 64)
        edge = np.concatenate([np.c_[t * size[0], 0 * t], np.c_[size[0] + 0 * t, t * size[1]],
                               np.c_[(1 - t) * size[0], size[1] + 0 * t], np.c_[0 * t, (1 - t) * size[1]]])
        uv, depth = cam.project(np.c_[edge, np.zeros(len(edge))])
        if (depth <= 0).any():
            return None
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(uv).astype(np.int32)], 1)
        return mask.astype(bool)
