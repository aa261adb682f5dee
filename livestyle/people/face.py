"""Faces in a live frame: detection (BlazeFace short range), 468 landmarks (MediaPipe's face mesh model),
tracking between detections and a One Euro filter so the points hold still on a still face.

Arrays: frames are uint8 BGR (H, W, 3); landmarks are float32 (468, 2) as (x, y) in frame pixels (the
point indices are MediaPipe's face mesh: 33/263 the outer eye corners, 1 the nose tip, 152 the chin);
boxes are (x0, y0, x1, y1) float frame pixels.

The steps, as MediaPipe's face mesh graph describes them (written here from the model cards and the
graph descriptions, not from MediaPipe's code):

1. :class:`FaceDetector`: the frame is letterboxed to a square (aspect kept, grey padding), resized to
   128x128, scaled to -1..1 and run through BlazeFace short range.  Its 896 anchors are the SSD
   anchors of a 128x128 input with strides 8, 16, 16, 16 (two anchors per cell on the 16x16 grid, six
   per cell on the 8x8 grid, all of unit size, centred on the cells); each anchor's 16 regressors are a
   box (cx, cy, w, h) and six keypoints (right eye, left eye, nose tip, mouth, right ear, left ear) in
   input pixels relative to the anchor centre; the score is a sigmoid of the logit.  Overlapping boxes
   are merged by weighted non-maximum suppression (a score-weighted mean of each cluster).
2. :class:`FaceLandmarker`: a square crop rotated so that the eyes are level, 1.5x the face's box
   (MediaPipe's face mesh crop), warped to 192x192 (pixels outside the frame are padded, so a face cut
   by the frame's edge is fine), scaled to 0..1, run through the landmark model; the 468 points come
   back in crop pixels and are mapped to frame pixels; the presence output is a logit.
3. :class:`FaceTracker`: the next frame's crop comes from the last landmarks (their box in the eye-level
   frame, 1.5x), so the detector runs only when nothing is tracked, when a track is lost (presence below
   ``presence_min``; the same frame is searched again at once) and every ``detect_every`` frames (to pick
   up new faces, up to ``max_faces``).  Landmarks are smoothed by :class:`OneEuro`.  On a still face
   the model's last points stand for up to three frames in a row while a thumbnail of the crop shows
   nothing moved; on a face that only moved (a sway, a pan) they move with it, by the shift at which a
   grey template of the face is found again (phase correlation), for up to three frames in a row while
   the template and the picture there, aligned, match.

Limits: the short-range detector needs a face of about 13 of its 128 input pixels or more, i.e. about a
tenth of the frame's long side (~130 px wide in a 1280x720 frame; a webcam at arm's length gives 200-400);
smaller, farther faces are not found (MediaPipe's full-range model, not shipped here, is for those).  Once
found, a face is tracked by the landmark model down to smaller sizes.  Measured on the astronaut and Grace
Hopper at 720p with camera noise of 3 levels (benchmarks/face_bench.py): landmark jitter (std) 0.11 and
0.86 px raw, 0.06 and 0.16 px smoothed; lag on a 16 px/frame pan under 1.2 px.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from livestyle.people.models import open_interpreter

log = logging.getLogger(__name__)

#: The most faces :class:`FaceTracker` follows at once (the largest first).
MAX_FACES = 2

DETECT_SIZE = 128
MESH_SIZE = 192
# Outer eye corners of the 468-point mesh: 33 is the person's right eye (image left), 263 the left.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


# -- detection -------------------------------------------------------------------------------------------

def blazeface_anchors(size: int = DETECT_SIZE, strides: tuple[int, ...] = (8, 16, 16, 16)) -> np.ndarray:
    """Anchor centres float32 (N, 2) in 0..1 (x, y) for BlazeFace short range: each stride is a layer with
    two anchors per grid cell (aspect 1 and its interpolated scale); consecutive layers of one stride share
    a grid.  For 128 and (8, 16, 16, 16): 16x16x2 + 8x8x6 = 896 anchors, all of unit width and height."""
    out = []
    i = 0
    while i < len(strides):
        stride, per_cell = strides[i], 0
        while i < len(strides) and strides[i] == stride:
            per_cell += 2
            i += 1
        grid = int(math.ceil(size / stride))
        ys, xs = np.meshgrid((np.arange(grid) + 0.5) / grid, (np.arange(grid) + 0.5) / grid, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class Detection:
    """One BlazeFace detection in frame pixels: ``box`` (x0, y0, x1, y1), ``keypoints`` float32 (6, 2)
    (right eye, left eye, nose tip, mouth, right ear, left ear; "right" is the person's), ``score`` 0..1."""

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box ``a`` (4,) against boxes ``b`` (N, 4), all (x0, y0, x1, y1)."""
    x0 = np.maximum(a[0], b[:, 0])
    y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[2], b[:, 2])
    y1 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, points: np.ndarray, scores: np.ndarray, iou_min: float = 0.3
                 ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Weighted non-maximum suppression: take the best box, average it with every box that overlaps it by
    more than ``iou_min`` (weights = scores; keypoints likewise), keep the best score, repeat.
    ``boxes`` (N, 4), ``points`` (N, K, 2), ``scores`` (N,); returns [(box (4,), points (K, 2), score)]."""
    order = np.argsort(-scores)
    boxes, points, scores = boxes[order], points[order], scores[order]
    left = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not left[i]:
            continue
        near = left & (_iou(boxes[i], boxes) > iou_min)
        near[i] = True
        w = scores[near][:, None]
        box = (boxes[near] * w).sum(0) / w.sum()
        pts = (points[near] * w[:, :, None]).sum(0) / w.sum()
        out.append((box, pts, float(scores[i])))
        left &= ~near
    return out


class FaceDetector:
    """BlazeFace short range on a letterboxed frame.  ``detect(frame)`` -> list of :class:`Detection`
    (best score first) with score >= ``score_min``; ``last_ms`` is the last call's time (letterbox included)."""

    def __init__(self, *, score_min: float = 0.5, iou_min: float = 0.3, threads: int = 1):
        self.score_min = float(score_min)
        self.iou_min = float(iou_min)
        self._it = open_interpreter("face_detector", threads=threads)
        self._in = self._it.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self._it.get_output_details()}
        self._reg, self._cls = outs["regressors"], outs["classificators"]
        self.anchors = blazeface_anchors()
        self._buf = np.empty((1, DETECT_SIZE, DETECT_SIZE, 3), np.float32)
        self.last_ms = 0.0

    def letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """The frame resized into a 128x128 square, aspect kept and centred: (uint8 BGR (128, 128, 3),
        scale, pad_x, pad_y) with input = frame * scale + pad."""
        h, w = frame.shape[:2]
        s = DETECT_SIZE / max(w, h)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
        px, py = (DETECT_SIZE - nw) // 2, (DETECT_SIZE - nh) // 2
        square = cv2.copyMakeBorder(small, py, DETECT_SIZE - nh - py, px, DETECT_SIZE - nw - px,
                                    cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return square, s, float(px), float(py)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        t = time.perf_counter()
        square, s, px, py = self.letterbox(frame)
        rgb = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)
        np.multiply(rgb, np.float32(1.0 / 127.5), out=self._buf[0], casting="unsafe")
        self._buf -= 1.0
        self._it.set_tensor(self._in, self._buf)
        self._it.invoke()
        reg = self._it.get_tensor(self._reg)[0]
        logits = np.clip(self._it.get_tensor(self._cls)[0, :, 0].astype(np.float64), -80.0, 80.0)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = np.flatnonzero(scores >= self.score_min)
        found = []
        if keep.size:
            r = reg[keep] / DETECT_SIZE  # in units of the input's side
            a = self.anchors[keep]
            cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
            w, h = r[:, 2], r[:, 3]
            boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
            pts = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
            for box, kp, score in weighted_nms(boxes, pts, scores[keep], self.iou_min):
                # input square (0..1) -> frame pixels
                box = (box * DETECT_SIZE - [px, py, px, py]) / s
                kp = (kp * DETECT_SIZE - [px, py]) / s
                found.append(Detection(tuple(float(v) for v in box), kp.astype(np.float32), score))
        self.last_ms = (time.perf_counter() - t) * 1000.0
        return found


# -- landmarks --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Roi:
    """A square crop of the frame: centre (cx, cy) and side ``size`` in frame pixels, rotated by ``angle``
    radians (the crop's x axis points along (cos angle, sin angle) in the frame, y down)."""

    cx: float
    cy: float
    size: float
    angle: float

    def to_frame(self, pts: np.ndarray, side: int) -> np.ndarray:
        """Crop pixels (N, 2) of a ``side`` x ``side`` crop -> frame pixels (N, 2) float32."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        k = self.size / side
        u = (pts[:, 0] - side / 2) * k
        v = (pts[:, 1] - side / 2) * k
        return np.stack([self.cx + c * u - s * v, self.cy + s * u + c * v], axis=1).astype(np.float32)


def roi_from_points(left_to_right: tuple[np.ndarray, np.ndarray], pts: np.ndarray, scale: float = 1.5) -> Roi:
    """The square crop around points ``pts`` (N, 2) in the frame whose x axis runs from the first eye point
    to the second (so a tilted face comes out level): the points' box in that rotated frame, its long side
    times ``scale``, centred on the box's centre."""
    a, b = left_to_right
    angle = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
    c, s = math.cos(angle), math.sin(angle)
    u = pts[:, 0] * c + pts[:, 1] * s          # along the eye line
    v = -pts[:, 0] * s + pts[:, 1] * c         # across it (down the face)
    u0, u1, v0, v1 = float(u.min()), float(u.max()), float(v.min()), float(v.max())
    cu, cv_ = (u0 + u1) / 2, (v0 + v1) / 2
    cx, cy = cu * c - cv_ * s, cu * s + cv_ * c
    return Roi(cx, cy, max(u1 - u0, v1 - v0) * scale, angle)


class FaceLandmarker:
    """MediaPipe's 468-point face mesh model on a rotated square crop.

    ``run(frame, roi)`` -> (landmarks float32 (468, 2) in frame pixels, presence 0..1).  ``last_ms`` is
    the last call's time (crop included).
    """

    def __init__(self, *, threads: int = 1):
        self._it = open_interpreter("face_landmarks", threads=threads)
        self._in = self._it.get_input_details()[0]["index"]
        outs = sorted(self._it.get_output_details(), key=lambda d: -int(np.prod(d["shape"])))
        self._pts, self._flag = outs[0]["index"], outs[1]["index"]
        self._buf = np.empty((1, MESH_SIZE, MESH_SIZE, 3), np.float32)
        self.last_ms = 0.0

    def crop(self, frame: np.ndarray, roi: Roi) -> np.ndarray:
        """The roi's 192x192 crop, uint8 BGR; outside the frame is padded with the edge's colour."""
        c, s = math.cos(roi.angle), math.sin(roi.angle)
        k = roi.size / MESH_SIZE
        h = MESH_SIZE / 2
        # crop (u, v) -> frame (x, y): x = cx + k*(c*(u-h) - s*(v-h)), y = cy + k*(s*(u-h) + c*(v-h))
        m = np.array([[c * k, -s * k, roi.cx - k * h * (c - s)],
                      [s * k, c * k, roi.cy - k * h * (s + c)]], np.float64)
        return cv2.warpAffine(frame, m, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def run(self, frame: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        t = time.perf_counter()
        patch = self.crop(frame, roi)
        cv2.cvtColor(patch, cv2.COLOR_BGR2RGB, dst=patch)
        np.multiply(patch, np.float32(1.0 / 255.0), out=self._buf[0], casting="unsafe")
        self._it.set_tensor(self._in, self._buf)
        self._it.invoke()
        raw = self._it.get_tensor(self._pts).reshape(468, 3)[:, :2]
        logit = float(np.clip(self._it.get_tensor(self._flag).ravel()[0], -100.0, 100.0))
        pts = roi.to_frame(raw, MESH_SIZE)
        self.last_ms = (time.perf_counter() - t) * 1000.0
        return pts, 1.0 / (1.0 + math.exp(-logit))


# -- smoothing --------------------------------------------------------------------------------------------

class OneEuro:
    """The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) on every element of an array.

    Each value is low-passed with a cutoff that rises with its speed: ``cutoff = min_cutoff + beta *
    |speed|`` (Hz), so a still value is smoothed hard (no jitter) and a moving one follows with little lag.
    The speed is itself low-passed at ``d_cutoff`` Hz.  ``scale`` divides the speed before ``beta`` (here
    the face's size in pixels, so the same ``beta`` suits a near and a far face: speed in face sizes per
    second).  ``__call__(x, t)`` takes the value array and its time in seconds and returns the smoothed
    array (float32, same shape); ``slower=`` there divides the cutoff for that one sample (a sample that
    stands for several frames of a still picture); ``reset()`` forgets the past.
    """

    def __init__(self, min_cutoff: float = 0.3, beta: float = 30.0, d_cutoff: float = 3.0):
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t = 0.0

    @staticmethod
    def _alpha(cutoff, dt: float):
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0, slower: float = 1.0) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if self._x is None or self._x.shape != x.shape or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        dt = float(t) - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = (self.min_cutoff + self.beta * np.abs(self._dx) / max(scale, 1e-6)) / max(float(slower), 1.0)
        a = self._alpha(cutoff, dt).astype(np.float32)
        self._x = self._x + a * (x - self._x)
        self._t = float(t)
        return self._x.copy()


# -- tracking ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Face:
    """One tracked face in frame pixels.

    ``landmarks``: float32 (468, 2) (x, y), smoothed; ``raw``: the same points before smoothing;
    ``box``: (x0, y0, x1, y1) of the smoothed landmarks; ``score``: the landmark model's face presence
    0..1; ``track``: an id that stays the same while the face is tracked.
    """

    landmarks: np.ndarray
    raw: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    track: int

    @property
    def size(self) -> float:
        """The face's size in pixels: the larger side of its box."""
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


def _box(pts: np.ndarray) -> tuple[float, float, float, float]:
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


@dataclass
class _Track:
    id: int
    roi: Roi
    smooth: OneEuro
    face: Face | None = None
    age: int = 0
    ran_roi: Roi | None = None        # the crop the landmark model last ran on
    thumb: np.ndarray | None = None   # that crop's thumbnail (see FaceTracker._thumb), on that frame
    held: int = 0                     # frames since, on which the model's last points were reused
    tmpl: np.ndarray | None = None    # the face's grey template on the model's frame (see FaceTracker._template)
    tmpl_at: tuple[int, int, int] = (0, 0, 1)  # its corner (x, y) in frame pixels and its pixels' side
    tmpl_squares: np.ndarray | None = None  # its 4x4-square means without the border ones (FaceTracker._squares)
    ran_raw: np.ndarray | None = None  # the model's points on that frame
    shift: np.ndarray = field(default_factory=lambda: np.zeros(2))  # the face's move since then (px)
    step: np.ndarray = field(default_factory=lambda: np.zeros(2))   # its move over the last frame (px)
    pause: int = 0                    # model runs before the moved-face test is tried again
    misses: int = 0                   # the moved-face test's failures in a row


THUMB = 24          # the still-face test's thumbnail side (cells)
TEMPLATE = 96       # the moved-face test's template: about this many of its pixels along its short side
MOVED_MIN = 0.5     # ... and a move of at least this much (px) along x or y
SHIFT_RESPONSE = 0.2  # ... the phase correlation's peak at least (measured 0.94-1.09 on the test clips)
THUMB_SAMPLE = 4    # pixels sampled along each cell's side (every k-th pixel of the crop's box)


def _settled(a: Roi, b: Roi) -> bool:
    """Whether crop ``b`` (made from the points found in crop ``a``) is ``a`` again, near enough that the
    model would see the same picture (centre within 1% of the side, side within 1%, angle within 0.04 rad)."""
    return (math.hypot(a.cx - b.cx, a.cy - b.cy) <= 0.01 * a.size and abs(a.size - b.size) <= 0.01 * a.size
            and abs(math.remainder(a.angle - b.angle, 2 * math.pi)) <= 0.04)


def _dft_side(n: int) -> int:
    """The largest even side up to ``n`` that OpenCV's DFT takes as it is (cv2.phaseCorrelate pads other
    sides, and on an odd padded side its answer is off by half a pixel)."""
    while n > 2 and (n % 2 or cv2.getOptimalDFTSize(n) != n):
        n -= 1
    return n


def _same_shape(a: Roi, b: Roi) -> bool:
    """Whether crops ``a`` and ``b`` have the same side (within 2%) and tilt (within 0.04 rad), wherever
    they are."""
    return abs(a.size - b.size) <= 0.02 * a.size and abs(math.remainder(a.angle - b.angle, 2 * math.pi)) <= 0.04


class FaceTracker:
    """Faces of a live video, frame by frame: ``update(frame)`` -> list of :class:`Face`, largest first,
    at most ``max_faces`` (default :data:`MAX_FACES`, 2).

    ``frame_size`` (W, H) is the frames' size (a frame of another size is refused).  The detector runs on
    the first frame, whenever no face is tracked, whenever a track is lost (the landmark model's
    presence falls below ``presence_min``; that frame is then searched again at once) and every
    ``detect_every`` frames (to find new faces and to re-anchor the tracks); on the other frames each
    face's crop comes from its last (raw) landmarks.  Landmarks are smoothed with :class:`OneEuro`
    (``min_cutoff`` Hz, ``beta`` per face size per second, ``d_cutoff`` Hz) at the frames' times: ``update(frame, t)``
    takes the time in seconds, else frames are taken as ``fps`` apart.

    A still face is not run through the landmark model on every frame: when the face's crop has settled
    (the crop made from the model's last points is the crop it ran on) and a thumbnail of that crop's box
    (:data:`THUMB` cells a side over its centre, each the mean of :data:`THUMB_SAMPLE` x :data:`THUMB_SAMPLE`
    pixels spread over the cell) differs
    from the one taken when the model last ran by less than ``still_diff`` levels (mean absolute
    difference: camera noise of 3 levels gives ~0.86, the same face moved by one pixel 2.3-3.4 on Grace
    Hopper and the astronaut), the model's last
    points and their smoothed values stand for the frame, at most ``hold`` frames in a row; ``hold=0`` runs
    the model on every frame.  A crop cut by the frame's edge always runs it.  When the model runs on a
    picture that is still unchanged, the One Euro filter's cutoff is divided by the frames since its last
    sample (so each sample weighs what each frame's would with the model on every frame).

    A face whose picture only moved is not run through it on every frame either: when the model runs on
    points from a crop of their own scale and tilt, a grey template of the face is kept (the middle of
    the points' box, in squares of a few pixels, about :data:`TEMPLATE` along its short side); on the
    next frames it is looked for by phase correlation near where the last move predicts, and when the
    peak is clear (:data:`SHIFT_RESPONSE`), the move at least :data:`MOVED_MIN` px and the template and
    the picture there, aligned, differ by less than ``moved_diff`` levels (mean absolute difference of
    4x4-square means: a rigid move under camera noise of 3 levels gives 0.27-0.75, leaning in and out by
    up to ~1% of the face's size a frame mostly 0.8-9), the model's last points moved by that shift stand
    for the frame (smoothed as the model's would be), at most ``hold`` frames in a row (still and moved
    frames together).  A test that fails waits 1, 2, 4, then 8 model runs before it is tried again, so a
    face that turns or leans costs little more than the model.

    ``last_ms`` holds the last update's times in ms: ``detect``, ``landmarks`` (all faces), ``smooth``,
    ``total``; ``detected`` says whether the detector ran on the last frame; ``detections`` counts its runs,
    ``model_runs`` the landmark model's (one per face and frame it ran on), ``held`` the faces and frames
    that reused its points (as they were or moved), ``moved`` those of them that moved them.
    """

    def __init__(self, frame_size: tuple[int, int], *, max_faces: int = MAX_FACES, detect_every: int = 30,
                 presence_min: float = 0.5, score_min: float = 0.5, fps: float = 30.0,
                 min_cutoff: float = 0.3, beta: float = 30.0, d_cutoff: float = 3.0, threads: int = 1,
                 hold: int = 3, still_diff: float = 1.2, moved_diff: float = 1.0,
                 detector: FaceDetector | None = None, landmarker: FaceLandmarker | None = None):
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.max_faces = max(1, int(max_faces))
        self.detect_every = max(1, int(detect_every))
        self.presence_min = float(presence_min)
        self.fps = float(fps)
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.hold = max(0, int(hold))
        self.still_diff = float(still_diff)
        self.moved_diff = float(moved_diff)
        self.model_runs = 0
        self.held = 0
        self.moved = 0
        self._hann: dict[tuple[int, int], np.ndarray] = {}
        self.detector = detector or FaceDetector(score_min=score_min, threads=threads)
        self.landmarker = landmarker or FaceLandmarker(threads=threads)
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frame = 0
        self._since_detect = 0
        self.detections = 0
        self.detected = False
        self.last_ms: dict[str, float] = {"detect": 0.0, "landmarks": 0.0, "smooth": 0.0, "total": 0.0}

    def reset(self) -> None:
        """Forget every track (a cut, a new source)."""
        self._tracks = []
        self._since_detect = 0

    def _detect(self, frame: np.ndarray, timing: dict) -> None:
        dets = self.detector.detect(frame)
        timing["detect"] += self.detector.last_ms
        self.detections += 1
        self.detected = True
        self._since_detect = 0
        tracked = np.array([self._track_box(t) for t in self._tracks], np.float64).reshape(-1, 4)
        dets.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        for d in dets:
            if len(self._tracks) >= self.max_faces:
                break
            if len(tracked) and _iou(np.array(d.box), tracked).max() > 0.2:
                continue  # already tracked: the track's own crop is better placed than the detector's box
            roi = roi_from_points((d.keypoints[0], d.keypoints[1]), np.array([d.box[:2], d.box[2:]]), 1.5)
            self._tracks.append(_Track(self._next_id, roi, OneEuro(self.min_cutoff, self.beta, self.d_cutoff)))
            self._next_id += 1
            tracked = np.vstack([tracked, np.array(d.box)[None]])

    @staticmethod
    def _track_box(t: _Track) -> tuple[float, float, float, float]:
        if t.face is not None:
            return t.face.box
        h = t.roi.size / 3.0  # a detection's roi is 1.5x the box's long side
        return (t.roi.cx - h, t.roi.cy - h, t.roi.cx + h, t.roi.cy + h)

    @staticmethod
    def _thumb(frame: np.ndarray, roi: Roi) -> np.ndarray | None:
        """The still-face test's thumbnail of the crop's axis-aligned box (the largest multiple of
        THUMB * THUMB_SAMPLE pixels centred in it): uint8 (THUMB, THUMB, 3), each cell the mean of
        THUMB_SAMPLE^2 pixels sampled evenly over it; None when that square leaves the frame."""
        half = 0.5 * roi.size * (abs(math.cos(roi.angle)) + abs(math.sin(roi.angle)))
        k = max(1, int(2 * half) // (THUMB * THUMB_SAMPLE))
        side = k * THUMB * THUMB_SAMPLE
        x0, y0 = int(round(roi.cx - side / 2)), int(round(roi.cy - side / 2))
        H, W = frame.shape[:2]
        if x0 < 0 or y0 < 0 or x0 + side > W or y0 + side > H:
            return None
        return cv2.resize(frame[y0:y0 + side:k, x0:x0 + side:k], (THUMB, THUMB), interpolation=cv2.INTER_AREA)

    def _still_diff(self, frame: np.ndarray, tr: _Track) -> float | None:
        """The mean absolute difference between the thumbnail of the crop the model last ran on, now and
        then; None where the still-face test does not apply (nothing held yet, a crop not settled, a box
        leaving the frame)."""
        if not self.hold or tr.face is None or tr.thumb is None or not _settled(tr.ran_roi, tr.roi):
            return None
        now = self._thumb(frame, tr.ran_roi)
        return None if now is None else float(cv2.absdiff(now, tr.thumb).mean())

    @staticmethod
    def _grey(frame: np.ndarray, x0: int, y0: int, k: int, tw: int, th: int) -> np.ndarray | None:
        """The frame's grey levels over ``tw`` x ``th`` squares of ``k`` pixels from (x0, y0), each the
        squares' mean: float32 (th, tw); None when that leaves the frame."""
        H, W = frame.shape[:2]
        if x0 < 0 or y0 < 0 or x0 + k * tw > W or y0 + k * th > H:
            return None
        grey = cv2.cvtColor(frame[y0:y0 + k * th, x0:x0 + k * tw], cv2.COLOR_BGR2GRAY)
        if k > 1:
            grey = cv2.resize(grey, (tw, th), interpolation=cv2.INTER_AREA)
        return grey.astype(np.float32)

    @classmethod
    def _template(cls, frame: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]] | None:
        """The moved-face test's template of the face at points ``pts``: the grey levels of the inner part
        of the points' box (its middle 70% across, 80% down: mostly face, little background) in squares
        of ``k`` pixels (about :data:`TEMPLATE` along the short side); (template, (x0, y0, k)) or None."""
        bx0, by0, bx1, by1 = _box(pts)
        w, h = bx1 - bx0, by1 - by0
        tw_px, th_px = 0.7 * w, 0.8 * h
        k = max(1, int(round(min(tw_px, th_px) / TEMPLATE)))
        tw, th = _dft_side(int(tw_px // k)), _dft_side(int(th_px // k))
        if tw < 32 or th < 32:
            return None
        x0 = int(round((bx0 + bx1) / 2 - k * tw / 2))
        y0 = int(round((by0 + by1) / 2 - k * th / 2))
        grey = cls._grey(frame, x0, y0, k, tw, th)
        return None if grey is None else (grey, (x0, y0, k))

    @staticmethod
    def _squares(grey: np.ndarray) -> np.ndarray:
        """The means of ``grey``'s 4x4 squares, the border squares left out (what the moved-face test compares)."""
        h, w = grey.shape
        return cv2.resize(grey, (w // 4, h // 4), interpolation=cv2.INTER_AREA)[1:-1, 1:-1]

    def _moved(self, frame: np.ndarray, tr: _Track) -> np.ndarray | None:
        """The face's move (px, float (2,)) since the frame the model last ran on, when its picture only
        moved: the template found again by phase correlation (near where the last move predicts, refined
        once), and the template and the picture there, aligned, differ by less than ``moved_diff`` levels
        (mean absolute difference of 4x4-square means); None otherwise."""
        if tr.tmpl is None or tr.ran_raw is None:
            return None
        x0, y0, k = tr.tmpl_at
        th, tw = tr.tmpl.shape
        hann = self._hann.get((tw, th))
        if hann is None:
            hann = self._hann[(tw, th)] = cv2.createHanningWindow((tw, th), cv2.CV_32F)
        guess = tr.shift + tr.step
        for _ in range(2):
            ix, iy = int(round(float(guess[0]))), int(round(float(guess[1])))
            win = self._grey(frame, x0 + ix, y0 + iy, k, tw, th)
            if win is None:
                return None
            (dx, dy), response = cv2.phaseCorrelate(tr.tmpl, win, hann)
            if not response >= SHIFT_RESPONSE or abs(dx) > tw / 4 or abs(dy) > th / 4:
                return None
            guess = np.array([ix + k * dx, iy + k * dy])
            if max(abs(dx), abs(dy)) <= 0.5:
                break
        # the picture there, moved back onto the template (win(x + d))
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        back = cv2.warpAffine(win, m, (tw, th), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        if float(cv2.absdiff(tr.tmpl_squares, self._squares(back)).mean()) >= self.moved_diff:
            return None
        return guess

    def _run_tracks(self, frame: np.ndarray, t_s: float, timing: dict) -> list[_Track]:
        lost = []
        for tr in list(self._tracks):
            t0 = time.perf_counter()
            diff = self._still_diff(frame, tr)
            still = diff is not None and diff < self.still_diff
            if still and tr.held < self.hold:
                # the picture has not changed since the model last ran: its points (and their smoothed
                # values) stand for this frame too
                tr.held += 1
                tr.age += 1
                self.held += 1
                timing["landmarks"] += (time.perf_counter() - t0) * 1000.0
                continue
            moved = None
            if self.hold and not still and tr.held < self.hold and tr.pause == 0 and tr.tmpl is not None:
                moved = self._moved(frame, tr)
                # a picture that did more than move (a turn, a lean, a smile): the test waits 1, 2, 4, 8
                # model runs after failures in a row, so that it costs little while it keeps failing
                tr.misses = 0 if moved is not None else tr.misses + 1
                tr.pause = min(8, 1 << (tr.misses - 1)) if tr.misses else 0
                if moved is not None and float(np.abs(moved).max()) < MOVED_MIN:
                    moved = None  # hardly moved, yet not still: the model looks again
            elif tr.pause:
                tr.pause -= 1
            if moved is not None:
                # the picture only moved since the model last ran: its points, moved with it, stand for
                # this frame (and are smoothed as the model's would be)
                pts = (tr.ran_raw + moved.astype(np.float32)).astype(np.float32)
                tr.step, tr.shift = moved - tr.shift, moved
                tr.held += 1
                tr.age += 1
                self.held += 1
                self.moved += 1
                timing["landmarks"] += (time.perf_counter() - t0) * 1000.0
                t0 = time.perf_counter()
                size = max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), 1.0)
                smooth = tr.smooth(pts, t_s, size)
                timing["smooth"] += (time.perf_counter() - t0) * 1000.0
                tr.face = Face(smooth, pts, _box(smooth), tr.face.score, tr.id)
                tr.roi = roi_from_points((pts[RIGHT_EYE_OUTER], pts[LEFT_EYE_OUTER]), pts, 1.5)
                continue
            pts, presence = self.landmarker.run(frame, tr.roi)
            self.model_runs += 1
            # after held frames of a still picture the filter gets one sample for several frames: its
            # cutoff falls in proportion, so it weighs this sample as it would have weighed each of them
            slower = tr.held + 1 if still else 1
            tr.ran_roi, tr.held = tr.roi, 0
            tr.thumb = self._thumb(frame, tr.roi) if self.hold else None
            if self.hold and np.isfinite(pts).all():
                # the template only when the test may be tried on the next frame, and only from points
                # the model found in a crop of their own scale and tilt (not yet on a fresh track, whose
                # first crop comes from the detector's box)
                again = roi_from_points((pts[RIGHT_EYE_OUTER], pts[LEFT_EYE_OUTER]), pts, 1.5)
                made = self._template(frame, pts) if tr.pause == 0 and _same_shape(tr.ran_roi, again) else None
                tr.tmpl, tr.tmpl_at = made if made is not None else (None, (0, 0, 1))
                tr.tmpl_squares = self._squares(tr.tmpl) if made is not None else None
                moved = np.zeros(2) if tr.face is None else (pts - tr.face.raw).mean(axis=0).astype(np.float64)
                tr.ran_raw, tr.step, tr.shift = pts, moved, np.zeros(2)
            timing["landmarks"] += (time.perf_counter() - t0) * 1000.0
            if presence < self.presence_min or not np.isfinite(pts).all():
                self._tracks.remove(tr)
                lost.append(tr)
                continue
            t0 = time.perf_counter()
            size = max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), 1.0)
            smooth = tr.smooth(pts, t_s, size, slower=slower)
            timing["smooth"] += (time.perf_counter() - t0) * 1000.0
            tr.face = Face(smooth, pts, _box(smooth), presence, tr.id)
            tr.roi = roi_from_points((pts[RIGHT_EYE_OUTER], pts[LEFT_EYE_OUTER]), pts, 1.5)
            tr.age += 1
        # two tracks that slid onto one face: keep the older
        keep: list[_Track] = []
        for tr in sorted(self._tracks, key=lambda t: t.id):
            if all(_iou(np.array(tr.face.box), np.array([k.face.box]))[0] < 0.5 for k in keep):
                keep.append(tr)
        self._tracks = keep
        return lost

    def update(self, frame: np.ndarray, t: float | None = None) -> list[Face]:
        """``frame``: uint8 BGR (H, W, 3) at ``frame_size``; ``t``: its time in seconds (optional)."""
        if frame.shape[1::-1] != self.frame_size:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the tracker was made for "
                             f"{self.frame_size[0]}x{self.frame_size[1]}")
        t0 = time.perf_counter()
        t_s = self._frame / self.fps if t is None else float(t)
        self._frame += 1
        self.detected = False
        timing = {"detect": 0.0, "landmarks": 0.0, "smooth": 0.0}
        if not self._tracks or self._since_detect >= self.detect_every:
            self._detect(frame, timing)
        lost = self._run_tracks(frame, t_s, timing)
        if lost and not self.detected:
            # a face slipped away: search this frame again rather than wait for the next detection
            self._detect(frame, timing)
            self._run_tracks_new(frame, t_s, timing)
        self._since_detect += 1
        faces = [tr.face for tr in self._tracks if tr.face is not None]
        faces.sort(key=lambda f: -f.size)
        timing["total"] = (time.perf_counter() - t0) * 1000.0
        self.last_ms = timing
        return faces[: self.max_faces]

    def _run_tracks_new(self, frame: np.ndarray, t_s: float, timing: dict) -> None:
        """Run the landmark model on the tracks the detector has just opened (those with no face yet)."""
        fresh = [tr for tr in self._tracks if tr.face is None]
        if not fresh:
            return
        old = [tr for tr in self._tracks if tr.face is not None]
        self._tracks = fresh
        self._run_tracks(frame, t_s, timing)
        self._tracks = old + self._tracks
