"""Synthetic basketball scenes with exact ground truth: players (masks, 17 COCO keypoints) and a ball.

Each scene is drawn from `np.random.default_rng((seed, index))`, so scene i is the same on every call and
every machine. Players are articulated stick figures with limb thickness; their masks come from the same
cv2 primitives that paint them, drawn back to front, so visible masks and visibility flags are exact.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import DataError
from ..spec import NUM_BODY_PARTS
from .annotations import Annotation

# Body proportions as fractions of the stature (ankle to top of head), roughly anthropometric.
_HIP_H, _SHOULDER_ABOVE_HIP, _NECK_ABOVE_SHOULDER = 0.50, 0.30, 0.05
_HEAD_R, _SHOULDER_HW, _HIP_HW = 0.065, 0.12, 0.08
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.17, 0.16, 0.24, 0.24
# Head features in the head's frame: (lateral, up, forward) in head radii; order nose, l/r eye, l/r ear.
_FACE = np.array([[0.0, -0.1, 1.0], [0.35, 0.2, 0.85], [-0.35, 0.2, 0.85], [0.95, 0.0, 0.1], [-0.95, 0.0, 0.1]])
_SKIN = ((60, 90, 140), (80, 120, 175), (110, 160, 215), (50, 70, 100), (95, 140, 200))
_MIN_VISIBLE_FRACTION = 0.06  # players hidden more than this are removed (the metrics need a mask)


@dataclass
class _Player:
    """One figure: its 17 keypoints (x, y), limb thickness, colours and the face-visibility flags."""

    kp: np.ndarray  # [17, 2] float64
    face_seen: np.ndarray  # [5] bool: the feature faces the camera
    foot_y: float
    height: float
    jersey: tuple[int, int, int]
    shorts: tuple[int, int, int]
    skin: tuple[int, int, int]
    head: np.ndarray  # (x, y) centre of the head disc


def _rot(v: np.ndarray, a: float) -> np.ndarray:
    """Rotate 2-vectors (image coordinates, y down) by angle a (radians)."""
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], -1)


def _make_player(rng: np.random.Generator, x: float, foot_y: float, h: float, team: tuple) -> _Player:
    """An articulated pose: random yaw, lean, arm and leg angles, sometimes a jump."""
    yaw = rng.uniform(-np.pi, np.pi)
    lat = np.cos(yaw)  # signed width factor: > 0 when facing the camera (the person's left at image right)
    lean = rng.normal(0.0, 0.12)
    kp = np.zeros((NUM_BODY_PARTS, 2))
    hip_c = np.array([0.0, -_HIP_H * h])
    up = _rot(np.array([0.0, -1.0]), lean)
    side = np.array([-up[1], up[0]])  # image-right perpendicular of the torso axis
    sh_c = hip_c + up * _SHOULDER_ABOVE_HIP * h
    for k, sgn in ((5, 1), (6, -1)):
        kp[k] = sh_c + side * sgn * lat * _SHOULDER_HW * h
    for k, sgn in ((11, 1), (12, -1)):
        kp[k] = hip_c + side * sgn * lat * _HIP_HW * h
    # Arms: angle from hanging straight down, outward positive on the arm's own side.
    for s_k, e_k, w_k, sgn in ((5, 7, 9, 1), (6, 8, 10, -1)):
        a1 = rng.uniform(-0.5, 2.6) if rng.random() < 0.6 else rng.uniform(-0.3, 0.6)
        a2 = a1 + rng.uniform(0.0, 1.8) * (1 if rng.random() < 0.7 else -1)
        out = sgn * (1 if lat >= 0 else -1)
        d1 = _rot(np.array([0.0, 1.0]), -out * a1)
        d2 = _rot(np.array([0.0, 1.0]), -out * a2)
        kp[e_k] = kp[s_k] + d1 * _UPPER_ARM * h
        kp[w_k] = kp[e_k] + d2 * _FOREARM * h
    # Legs: stride angle and knee bend; the knee bends backwards relative to the facing direction.
    stride = rng.uniform(0.0, 0.45)
    facing = 1.0 if np.sin(yaw) >= 0 else -1.0
    for h_k, k_k, a_k, sgn in ((11, 13, 15, 1), (12, 14, 16, -1)):
        a1 = sgn * stride * (1 if rng.random() < 0.5 else -1) + rng.normal(0, 0.08)
        bend = rng.uniform(0.0, 0.9)
        d1 = _rot(np.array([0.0, 1.0]), a1)
        d2 = _rot(np.array([0.0, 1.0]), a1 - facing * bend)
        kp[k_k] = kp[h_k] + d1 * _THIGH * h
        kp[a_k] = kp[k_k] + d2 * _SHIN * h
    neck = sh_c + up * _NECK_ABOVE_SHOULDER * h
    head_c = neck + up * _HEAD_R * h * 1.1
    # Face: a small 3-D head turned by yaw, projected orthographically.
    r = _HEAD_R * h
    fx = _FACE[:, 0] * np.cos(yaw) + _FACE[:, 2] * np.sin(yaw)
    depth = -_FACE[:, 0] * np.sin(yaw) + _FACE[:, 2] * np.cos(yaw)
    kp[:5] = head_c + np.stack([fx, -_FACE[:, 1]], -1) * r
    face_seen = depth > -0.15
    jump = rng.uniform(0.0, 0.25) * h if rng.random() < 0.15 else 0.0
    lowest = kp[[15, 16], 1].max() + 0.03 * h
    shift = np.array([x, foot_y - lowest - jump])
    skin = _SKIN[int(rng.integers(len(_SKIN)))]
    return _Player(kp + shift, face_seen, foot_y, h, team[0], team[1], skin, head_c + shift)


def _draw_player(p: _Player, canvases: list[tuple[np.ndarray, tuple | int | None]], shade: float) -> None:
    """Paint one player onto each (canvas, colour) pair; colour None means 'use the part colours'."""
    kp = np.round(p.kp).astype(np.int32)
    h = p.height
    t_leg, t_arm, t_torso = max(2, int(0.07 * h)), max(2, int(0.045 * h)), max(2, int(0.05 * h))
    # Rounded up so every face keypoint (within 0.95 head radii of the centre) lies on the drawn disc.
    head_r = max(2, int(np.ceil(_HEAD_R * h)) + 1)
    head_c = np.round(p.head).astype(np.int32)
    torso = np.array([kp[5], kp[6], kp[12], kp[11]], np.int32)
    shoe = (30, 30, 30)

    def c(col: tuple) -> tuple:
        return tuple(int(min(255, v * shade)) for v in col)

    for img, flat in canvases:
        pick = (lambda col: flat) if flat is not None else c
        for a, b, col, t in ((11, 13, p.shorts, t_leg), (12, 14, p.shorts, t_leg), (13, 15, p.skin, t_leg - 1),
                             (14, 16, p.skin, t_leg - 1)):
            cv2.line(img, tuple(kp[a]), tuple(kp[b]), pick(col), max(2, t))
        for k in (15, 16):
            cv2.circle(img, tuple(kp[k]), max(2, t_leg // 2 + 1), pick(shoe), -1)
        cv2.fillPoly(img, [torso], pick(p.jersey))
        cv2.polylines(img, [torso], True, pick(p.jersey), t_torso)
        for a, b, col in ((5, 7, p.skin), (7, 9, p.skin), (6, 8, p.skin), (8, 10, p.skin)):
            cv2.line(img, tuple(kp[a]), tuple(kp[b]), pick(col), t_arm)
        for k in (9, 10):
            cv2.circle(img, tuple(kp[k]), max(2, t_arm // 2 + 1), pick(p.skin), -1)
        neck = ((kp[5] + kp[6]) // 2)
        cv2.line(img, tuple(neck), tuple(head_c), pick(p.skin), t_arm)
        cv2.circle(img, tuple(head_c), head_r, pick(p.skin), -1)


def _court(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Floor with planks, painted lines and the key, stands above the horizon; returns (image, horizon, court)."""
    horizon = int(rng.uniform(0.0, 0.3) * h)
    wood = np.array([rng.uniform(70, 110), rng.uniform(120, 165), rng.uniform(170, 220)])
    # Plank texture: low-res noise stretched along the planks (cheap, no per-pixel loops).
    tex = rng.normal(0.0, 1.0, (max(2, h // 6), 12)).astype(np.float32)
    tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_LINEAR)
    grain = rng.normal(0.0, 1.0, (h // 2 + 1, 4)).astype(np.float32)
    tex += 0.5 * cv2.resize(grain, (w, h), interpolation=cv2.INTER_NEAREST)
    img = np.clip(wood[None, None, :] + 9.0 * tex[..., None], 0, 255).astype(np.uint8)
    court = np.zeros((h, w), np.uint8)
    court[horizon:] = 1
    # Key (painted area) and lines, in a simple perspective: farther rows are compressed.
    kx, kw = rng.uniform(0.25, 0.75) * w, rng.uniform(0.2, 0.35) * w
    ky0 = horizon + int(rng.uniform(0.05, 0.2) * (h - horizon))
    ky1 = min(h - 1, ky0 + int(rng.uniform(0.25, 0.5) * (h - horizon)))
    spread = rng.uniform(1.1, 1.4)
    key = np.array([[kx - kw / 2, ky0], [kx + kw / 2, ky0], [kx + kw * spread / 2, ky1], [kx - kw * spread / 2, ky1]],
                   np.int32)
    paint = tuple(int(v) for v in rng.integers(40, 200, 3))
    overlay = img.copy()
    cv2.fillPoly(overlay, [key], paint)
    cv2.addWeighted(overlay, 0.55, img, 0.45, 0, dst=img)
    line = (235, 235, 235) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(0, 90, 3))
    lt = max(2, int(rng.uniform(0.004, 0.009) * w))
    cv2.polylines(img, [key], True, line, lt)
    axes = (int(kw * spread * 0.5), int(kw * spread * 0.18))
    cv2.ellipse(img, (int(kx), int(ky1)), axes, 0, 0, 360, line, lt)
    cv2.ellipse(img, (int(kx), int(ky0)), (int(kw * 1.6), int((h - horizon) * 0.45)), 0, 0, 180, line, lt)
    side_y = horizon + int(rng.uniform(0.0, 0.06) * (h - horizon))
    cv2.line(img, (0, side_y), (w - 1, side_y), line, lt)
    if horizon > 0:
        stands = rng.normal(0.0, 1.0, (max(2, horizon // 4), max(2, w // 4), 3)).astype(np.float32)
        stands = cv2.resize(stands, (w, horizon), interpolation=cv2.INTER_NEAREST)
        base = rng.uniform(20, 90, 3)
        img[:horizon] = np.clip(base + 35.0 * stands, 0, 255).astype(np.uint8)
    return img, horizon, court


def _ball(rng: np.random.Generator, img: np.ndarray, labels: np.ndarray, xy: np.ndarray, diameter: float) -> None:
    """Paint a motion-blurred ball at xy and clear the player labels under its disc (the ball is in front)."""
    r = diameter / 2.0
    pad = int(np.ceil(r)) + 8
    x0, y0 = int(np.floor(xy[0])) - pad, int(np.floor(xy[1])) - pad
    size = 2 * pad + 1
    patch = np.zeros((size, size), np.float32)
    centre = (xy[0] - x0, xy[1] - y0)
    shift = 4  # sub-pixel disc so the annotated centre is the painted one
    cv2.circle(patch, (int(round(centre[0] * 16)), int(round(centre[1] * 16))), int(round(r * 16)), 1.0, -1,
               cv2.LINE_AA, shift)
    hard = patch > 0.5
    length = int(rng.integers(1, 9))
    if length > 1:
        kern = np.zeros((length, length), np.float32)
        cv2.line(kern, (0, length // 2), (length - 1, length // 2), 1.0, 1)
        m = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
        kern = cv2.warpAffine(kern, m, (length, length))
        patch = cv2.filter2D(patch, -1, kern / max(kern.sum(), 1e-6))
    colour = np.array([rng.uniform(20, 60), rng.uniform(80, 130), rng.uniform(190, 240)], np.float32)
    h, w = labels.shape
    ya, yb, xa, xb = max(y0, 0), min(y0 + size, h), max(x0, 0), min(x0 + size, w)
    if ya >= yb or xa >= xb:
        return
    sub = patch[ya - y0:yb - y0, xa - x0:xb - x0, None]
    region = img[ya:yb, xa:xb].astype(np.float32)
    img[ya:yb, xa:xb] = (region * (1 - sub) + colour * sub).astype(np.uint8)
    lab = labels[ya:yb, xa:xb]
    lab[hard[ya - y0:yb - y0, xa - x0:xb - x0]] = 0


class SyntheticScenes(Sequence):
    """Deterministic synthetic basketball scenes: `scenes[i] -> (image_bgr uint8 [H,W,3], Annotation)`."""

    def __init__(self, seed: int = 0, width: int = 641, height: int = 641, *, min_players: int = 5,
                 max_players: int = 12, length: int = 10 ** 6, ball_probability: float = 0.9):
        if width < 33 or height < 33:
            raise DataError(f"SyntheticScenes: size {width}x{height} is too small; expected at least 33x33")
        if not 0 <= min_players <= max_players:
            raise DataError(f"SyntheticScenes: players range {min_players}..{max_players} is not valid")
        if length < 0:
            raise DataError(f"SyntheticScenes: length must be >= 0, got {length}")
        self.seed, self.width, self.height = int(seed), int(width), int(height)
        self.min_players, self.max_players = int(min_players), int(max_players)
        self.length = int(length)
        self.ball_probability = float(ball_probability)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index):  # type: ignore[override]
        """Scene `index` (negative indices count from the end; slices give lists)."""
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.length))]
        index = int(index)
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"SyntheticScenes index {index} out of range 0..{self.length - 1}")
        return self.render(index)

    def render(self, index: int) -> tuple[np.ndarray, Annotation]:
        """Draw scene `index` (any non-negative integer, ignoring `length`)."""
        rng = np.random.default_rng((self.seed, int(index)))
        w, h = self.width, self.height
        img, horizon, court = _court(rng, w, h)
        # Camera scale: stature of a player standing at the bottom of the image, in pixels.
        near = rng.uniform(0.28, 0.5) * h
        far = near * rng.uniform(0.35, 0.7)
        teams = [(tuple(int(v) for v in rng.integers(0, 256, 3)), tuple(int(v) for v in rng.integers(0, 256, 3)))
                 for _ in range(2)]
        teams.append(((20, 20, 20), (20, 20, 20)))  # referee
        n = int(rng.integers(self.min_players, self.max_players + 1))
        players = []
        for _ in range(n):
            foot_y = rng.uniform(horizon + 0.12 * (h - horizon), h * 1.08)
            frac = (foot_y - horizon) / max(1.0, h - horizon)
            stature = far + (near - far) * frac
            x = rng.uniform(-0.05, 1.05) * w
            team = teams[int(rng.choice(3, p=[0.47, 0.47, 0.06]))]
            players.append(_make_player(rng, x, foot_y, stature, team))
        players.sort(key=lambda p: p.foot_y)  # back to front: later players hide earlier ones
        ball = None
        if rng.random() < self.ball_probability:
            diameter = rng.uniform(7.0, 18.0)
            if players and rng.random() < 0.5:
                holder = players[int(rng.integers(len(players)))]
                bxy = holder.kp[9 + int(rng.integers(2))] + rng.normal(0, diameter * 0.4, 2)
            else:
                bxy = np.array([rng.uniform(0.05, 0.95) * w, rng.uniform(0.03, 0.9) * h])
            # The annotated centre must lie in the image: a held ball near the border is pulled inside.
            r = diameter / 2
            bxy = np.clip(bxy, [r, r], [w - 1 - r, h - 1 - r])
            ball = (float(bxy[0]), float(bxy[1]), float(r))
        gain = rng.uniform(0.6, 1.3)
        shades = rng.uniform(0.75, 1.15, len(players))
        self._reflect(rng, img, players)
        # Remove players hidden almost entirely, then draw for good (mask and image from the same strokes).
        labels, players, shades = self._visible(players, shades, w, h)
        for p, s in zip(players, shades):
            _draw_player(p, [(img, None)], s * gain ** 0.3)
        if ball is not None:
            _ball(rng, img, labels, np.array(ball[:2]), 2 * ball[2])
        img = self._light(rng, img, gain)
        ann = Annotation(labels, self._keypoints(players, labels, w, h), ball=ball, court=court.astype(bool),
                         image_id=f"synthetic-{self.seed}-{index}")
        return img, ann.validate(f"synthetic scene {index}")

    @staticmethod
    def _visible(players: list, shades: np.ndarray, w: int, h: int):
        """Label map of the players drawn back to front, without those hidden beyond recognition."""
        while True:
            labels = np.zeros((h, w), np.int32)
            full = []
            for i, p in enumerate(players):
                alone = np.zeros((h, w), np.uint8)
                _draw_player(p, [(alone, 1)], 1.0)
                full.append(int(alone.sum()))
                labels[alone > 0] = i + 1
            vis = np.bincount(labels.ravel(), minlength=len(players) + 1)[1:]
            keep = [i for i in range(len(players)) if full[i] > 0 and vis[i] >= _MIN_VISIBLE_FRACTION * full[i]]
            if len(keep) == len(players):
                return labels, players, shades
            players = [players[i] for i in keep]
            shades = shades[keep]

    @staticmethod
    def _keypoints(players: list, labels: np.ndarray, w: int, h: int) -> np.ndarray:
        """[N,17,3] with visibility 2 on own pixels, 1 when hidden, 0 (and x = y = 0) outside or facing away."""
        kps = np.zeros((len(players), NUM_BODY_PARTS, 3), np.float32)
        for i, p in enumerate(players):
            for k in range(NUM_BODY_PARTS):
                x, y = p.kp[k]
                xi, yi = int(round(x)), int(round(y))
                if not (0 <= xi < w and 0 <= yi < h) or (k < 5 and not p.face_seen[k]):
                    continue
                kps[i, k] = (x, y, 2 if labels[yi, xi] == i + 1 else 1)
        return kps

    @staticmethod
    def _reflect(rng: np.random.Generator, img: np.ndarray, players: list) -> None:
        """Faint mirror images of the players on the glossy floor, under everything else."""
        layer = np.zeros_like(img)
        for p in players:
            q = _Player(p.kp.copy(), p.face_seen, p.foot_y, p.height, p.jersey, p.shorts, p.skin, p.head.copy())
            q.kp[:, 1] = 2 * p.foot_y - q.kp[:, 1]
            q.head[1] = 2 * p.foot_y - q.head[1]
            _draw_player(q, [(layer, None)], 1.0)
        alpha = rng.uniform(0.08, 0.25)
        layer = cv2.blur(layer, (5, 9))
        on = layer.any(axis=2)
        img[on] = (img[on] * (1 - alpha) + layer[on] * alpha).astype(np.uint8)

    @staticmethod
    def _light(rng: np.random.Generator, img: np.ndarray, gain: float) -> np.ndarray:
        """Global gain, colour cast, a brightness gradient, slight camera blur and sensor noise."""
        h, w = img.shape[:2]
        cast = rng.uniform(0.85, 1.15, 3).astype(np.float32) * gain
        gy = np.linspace(1.0 - rng.uniform(0, 0.3), 1.0, h, dtype=np.float32)[:, None, None]
        gx = np.linspace(1.0, 1.0 - rng.uniform(-0.2, 0.2), w, dtype=np.float32)[None, :, None]
        out = img.astype(np.float32) * (cast * gy * gx)
        if rng.random() < 0.5:
            out = cv2.GaussianBlur(out, (3, 3), 0.6)
        out += rng.integers(-4, 5, out.shape[:2], dtype=np.int16)[..., None]
        return np.clip(out, 0, 255).astype(np.uint8)
