"""The built-in demo scene: a person in a room, synthesised on the fly.

No file, camera or download is needed: ``--input demo`` shows a lit room
(window with sky and trees, wallpaper, picture, bookshelf, plant, wooden
floor) and a simple figure (head with skin tone, hair, eyes that blink, a
mouth that talks, neck and shoulders) that sways and bobs, seen by a camera
that pans slowly and shakes a little.  Fine texture and sensor-like noise are
there on purpose, so that blurry upsampling is visible.

Everything expensive is drawn once in :meth:`DemoSource.open`: the room on a
canvas a little larger than the frame and six figure sprites (2 eye states x
3 mouth states) with anti-aliased alpha.  A frame is then a window of the
canvas, one alpha blend of a sprite and two saturating adds of pre-drawn
noise, about 2-3 ms at 1280x720 on a laptop-class CPU core.

Frame ``i`` is a pure function of ``i``, ``size`` and ``fps`` (motion is
defined in seconds, ``t = i / fps``), so runs are reproducible.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import cv2
import numpy as np

from livestyle.errors import SourceError
from livestyle.sources.base import Source

log = logging.getLogger(__name__)

_SEED = 20240611
_NOISE_SHIFT = 16  # the noise planes are this much larger than a frame; windows move inside


class DemoSource(Source):
    """An endless synthetic video, uint8 BGR frames of shape (H, W, 3), values 0..255.

    ``size`` is (width, height) (at least 64x48), ``fps`` the nominal rate.
    With ``realtime=False`` :meth:`read` returns the next frame as fast as
    it is asked; with ``realtime=True`` the demo behaves like a camera (it
    is :attr:`live`): frame ``i`` is due at ``t0 + i / fps`` (``t0`` = the
    first read), a read sleeps until the next frame is due, and a consumer
    that comes late gets the newest due frame, the older ones being skipped
    (never drawn) and counted in :attr:`skipped`.  :attr:`last_index` is the
    index of the frame the last read returned.  The stream never ends;
    :meth:`close` makes reads return None.
    """

    def __init__(self, *, size: tuple[int, int] = (1280, 720), fps: float = 30.0,
                 realtime: bool = False):
        width, height = int(size[0]), int(size[1])
        if width < 64 or height < 48:
            raise SourceError(f"The demo needs a frame of at least 64x48 pixels, got {width}x{height}.",
                              fix="Pass a larger --size, e.g. 1280x720.")
        if not fps or not math.isfinite(fps) or fps <= 0:
            raise SourceError(f"The demo needs a positive frame rate, got {fps!r}.",
                              fix="Pass --fps 30 (or any rate above 0).")
        self.size = (width, height)
        self.fps = float(fps)
        self.realtime = bool(realtime)
        self.live = self.realtime
        self.reconnects = 0
        self.skipped = 0
        self.last_index = -1
        pacing = ", paced" if self.realtime else ""
        self.description = f"demo scene ({width}x{height}@{self.fps:g}{pacing})"
        self._scene: _Scene | None = None
        self._next_index = 0
        self._t0: float | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def open(self) -> None:
        """Draw the room and the figure sprites (a one-off cost of roughly 0.1-0.3 s at 720p)."""
        if self._scene is None:
            started = time.perf_counter()
            self._scene = _Scene(self.size)
            log.info("demo scene %dx%d drawn in %.0f ms", *self.size, (time.perf_counter() - started) * 1e3)

    def frame(self, index: int) -> np.ndarray:
        """Frame number ``index`` (>= 0) without advancing the stream: uint8 BGR (H, W, 3)."""
        if self._scene is None:
            self.open()
        return self._scene.render(index / self.fps, index)

    def read(self) -> np.ndarray | None:
        if self._closed.is_set():
            return None
        with self._lock:
            index = self._next_index
            if self.realtime:
                now = time.perf_counter()
                if self._t0 is None:
                    self._t0 = now
                due = int((now - self._t0) * self.fps)
                if due > index:
                    self.skipped += due - index
                    index = due
            self._next_index = index + 1
        if self.realtime:  # wait until due, then draw: drawing counts in the frame's latency
            ready = self._t0 + index / self.fps
            delay = ready - time.perf_counter()
            if delay > 0 and self._closed.wait(delay):
                return None
            self.frame_ready_time = ready
        image = self.frame(index)
        if self._closed.is_set():
            return None
        self.last_index = index
        return image

    def close(self) -> None:
        """Make reads return None; idempotent and safe from any thread."""
        self._closed.set()


class _Scene:
    """Pre-drawn layers and the per-frame compositor for one frame size."""

    def __init__(self, size: tuple[int, int]):
        self.width, self.height = size
        width, height = size
        self.margin_x = max(4, round(0.05 * width))
        self.margin_y = max(4, round(0.05 * height))
        rng = np.random.default_rng(_SEED)
        self.background = _draw_room(width + 2 * self.margin_x, height + 2 * self.margin_y, rng)
        self.sprites, self.alphas = _draw_figures(height, rng)
        noise_shape = (height + _NOISE_SHIFT, width + _NOISE_SHIFT, 3)
        noise = rng.normal(0.0, 2.2, noise_shape)
        self.noise_up = np.clip(noise, 0, 255).astype(np.uint8)
        self.noise_down = np.clip(-noise, 0, 255).astype(np.uint8)

    def render(self, t: float, index: int) -> np.ndarray:
        """The frame at time ``t`` seconds (``index`` only varies the noise): uint8 BGR (H, W, 3)."""
        width, height = self.width, self.height
        tau = 2.0 * math.pi
        # Camera: a slow pan plus a little hand-held shake (whole pixels; cheap slicing).
        shake_x = 0.0025 * width * (math.sin(tau * 1.3 * t) + 0.5 * math.sin(tau * 3.7 * t + 1.0))
        shake_y = 0.0025 * height * (math.sin(tau * 1.1 * t + 2.0) + 0.5 * math.sin(tau * 2.9 * t))
        cam_x = round(self.margin_x * (1.0 + 0.6 * math.sin(tau * t / 13.0)) + shake_x)
        cam_y = round(self.margin_y * (1.0 + 0.4 * math.sin(tau * t / 17.0 + 0.5)) + shake_y)
        cam_x = min(max(cam_x, 0), 2 * self.margin_x)
        cam_y = min(max(cam_y, 0), 2 * self.margin_y)
        frame = self.background[cam_y:cam_y + height, cam_x:cam_x + width].copy()

        # The figure: sways left-right, bobs, blinks every ~3.7 s, talks in bursts.
        blink = (t % 3.7) < 0.14
        talking = (t % 5.0) < 3.2
        mouth = 0
        if talking:
            mouth = min(2, int(3.0 * (0.5 + 0.5 * math.sin(tau * 2.3 * t) * math.sin(tau * 0.9 * t + 0.3))))
        sprite = self.sprites[(1 if blink else 0) * 3 + mouth]
        alpha = self.alphas[(1 if blink else 0) * 3 + mouth]
        sprite_h, sprite_w = sprite.shape[:2]
        world_x = 0.5 * (width - sprite_w) + 0.10 * width * math.sin(tau * t / 7.0) + self.margin_x
        world_y = height - sprite_h + 0.03 * height + 0.012 * height * math.sin(tau * t / 1.9) + self.margin_y
        _blend(frame, sprite, alpha, round(world_x) - cam_x, round(world_y) - cam_y)

        # Sensor noise: windows of fixed noise planes, moved every frame.
        ox, oy = (index * 7) % _NOISE_SHIFT, (index * 11) % _NOISE_SHIFT
        cv2.add(frame, self.noise_up[oy:oy + height, ox:ox + width], dst=frame)
        cv2.subtract(frame, self.noise_down[_NOISE_SHIFT - oy - 1:_NOISE_SHIFT - oy - 1 + height,
                                            ox:ox + width], dst=frame)
        return frame


def _blend(frame: np.ndarray, sprite: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend ``sprite`` (uint8 BGR) with ``alpha`` (float32 0..1, HxW) into ``frame`` at (x, y), clipped."""
    height, width = frame.shape[:2]
    sprite_h, sprite_w = sprite.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + sprite_w, width), min(y + sprite_h, height)
    if x0 >= x1 or y0 >= y1:
        return
    sx0, sy0 = x0 - x, y0 - y
    sx1, sy1 = sx0 + (x1 - x0), sy0 + (y1 - y0)
    region = frame[y0:y1, x0:x1]
    weights = alpha[sy0:sy1, sx0:sx1]
    region[...] = cv2.blendLinear(np.ascontiguousarray(sprite[sy0:sy1, sx0:sx1]), region,
                                  np.ascontiguousarray(weights), np.ascontiguousarray(1.0 - weights))


def _texture(rng: np.random.Generator, shape: tuple[int, int], blur: tuple[int, int], amplitude: float) -> np.ndarray:
    """Smooth random texture, float32 (H, W), mean 0, about +-amplitude."""
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=blur[0], sigmaY=blur[1])
    noise /= float(noise.std()) + 1e-6
    return noise * amplitude


def _draw_room(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The room background, uint8 BGR (height, width, 3)."""
    s = height / 720.0
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    room = np.empty((height, width, 3), np.float32)

    # Wall: warm gradient, wallpaper stripes and a faint motif, plaster texture.
    wall_top, wall_bottom = np.array([150, 180, 205], np.float32), np.array([118, 148, 178], np.float32)
    room[:] = wall_top + (wall_bottom - wall_top) * ys[..., None]
    stripe_period = max(6.0, 26.0 * s)
    stripes = 6.0 * (np.sin(2 * np.pi * np.arange(width, dtype=np.float32) / stripe_period) > 0.6)
    room += stripes[None, :, None]
    room += _texture(rng, (height, width), (1.0, 1.0), 4.0)[..., None]

    canvas = np.clip(room, 0, 255).astype(np.uint8)
    floor_y = int(0.80 * height)
    # Skirting board and dado rail.
    cv2.rectangle(canvas, (0, floor_y - int(18 * s)), (width, floor_y), (215, 225, 232), -1)
    cv2.line(canvas, (0, int(0.60 * height)), (width, int(0.60 * height)), (170, 190, 210), max(1, int(5 * s)))

    # Floor: planks with grain.
    floor = np.empty((height - floor_y, width, 3), np.float32)
    floor[:] = (40, 82, 132)
    grain = _texture(rng, floor.shape[:2], (18.0 * s + 1, 0.8), 14.0)
    floor += grain[..., None] * np.array([0.6, 0.8, 1.0], np.float32)
    plank = max(4, int(34 * s))
    for row, top in enumerate(range(0, floor.shape[0], plank)):
        floor[top:top + plank] *= 0.9 + 0.12 * ((row * 37) % 5) / 4.0
        floor[top:top + max(1, int(2 * s))] *= 0.55
        offset = (row * 173) % max(1, int(310 * s))
        for seam in range(offset, width, max(20, int(310 * s))):
            floor[top:top + plank, seam:seam + max(1, int(2 * s))] *= 0.6
    canvas[floor_y:] = np.clip(floor, 0, 255).astype(np.uint8)

    # Window with sky, clouds and trees, a frame, mullions and a curtain.
    wx0, wy0, wx1, wy1 = int(0.05 * width), int(0.10 * height), int(0.30 * width), int(0.55 * height)
    win_h, win_w = wy1 - wy0, wx1 - wx0
    sky = np.empty((win_h, win_w, 3), np.float32)
    t = np.linspace(0, 1, win_h, dtype=np.float32)[:, None, None]
    sky[:] = np.array([235, 190, 120], np.float32) * (1 - t) + np.array([250, 235, 215], np.float32) * t
    sky_u8 = np.clip(sky, 0, 255).astype(np.uint8)
    for _ in range(4):
        center = (int(rng.uniform(0.1, 0.9) * win_w), int(rng.uniform(0.1, 0.45) * win_h))
        axes = (int(rng.uniform(0.10, 0.22) * win_w), int(rng.uniform(0.04, 0.08) * win_h))
        cv2.ellipse(sky_u8, center, axes, 0, 0, 360, (250, 250, 250), -1, cv2.LINE_AA)
    sky_u8 = cv2.GaussianBlur(sky_u8, (0, 0), 2.0 * s + 0.5)
    tree_line = (0.72 + 0.07 * np.sin(np.arange(win_w) / (9.0 * s + 1)) + 0.04 * _texture(
        rng, (1, win_w), (1, 3.0), 1.0)[0]) * win_h
    tree_mask = np.arange(win_h)[:, None] > tree_line[None, :]
    foliage = np.clip(np.array([50, 110, 60], np.float32) + _texture(rng, (win_h, win_w), (1.5, 1.5), 22.0)[..., None],
                      0, 255).astype(np.uint8)
    sky_u8[tree_mask] = foliage[tree_mask]
    canvas[wy0:wy1, wx0:wx1] = sky_u8
    frame_w = max(2, int(14 * s))
    cv2.rectangle(canvas, (wx0, wy0), (wx1, wy1), (235, 240, 242), frame_w)
    cv2.line(canvas, ((wx0 + wx1) // 2, wy0), ((wx0 + wx1) // 2, wy1), (235, 240, 242), max(1, frame_w // 2))
    cv2.line(canvas, (wx0, (wy0 + wy1) // 2), (wx1, (wy0 + wy1) // 2), (235, 240, 242), max(1, frame_w // 2))
    curtain_x0, curtain_x1 = wx1 - int(0.02 * width), wx1 + int(0.05 * width)
    folds = np.arange(curtain_x1 - curtain_x0, dtype=np.float32)
    shade = 0.75 + 0.25 * np.sin(folds / (5.0 * s + 0.5))
    curtain = np.array([45, 50, 150], np.float32)[None, None, :] * shade[None, :, None]
    canvas[wy0 - int(0.04 * height):int(0.78 * height), curtain_x0:curtain_x1] = np.clip(curtain, 0, 255).astype(np.uint8)

    # Picture on the wall: a little landscape in a gilded frame.
    px0, py0, px1, py1 = int(0.36 * width), int(0.12 * height), int(0.50 * width), int(0.34 * height)
    cv2.rectangle(canvas, (px0, py0), (px1, py1), (60, 150, 200), -1)
    cv2.rectangle(canvas, (px0 + int(10 * s), py0 + int(10 * s)), (px1 - int(10 * s), py1 - int(10 * s)),
                  (200, 170, 120), -1)
    mountain = np.array([[px0 + int(10 * s), py1 - int(10 * s)], [int(px0 + 0.4 * (px1 - px0)), py0 + int(40 * s)],
                         [int(px0 + 0.7 * (px1 - px0)), py1 - int(10 * s)]], np.int32)
    cv2.fillPoly(canvas, [mountain], (90, 110, 100), cv2.LINE_AA)
    cv2.circle(canvas, (int(px0 + 0.75 * (px1 - px0)), py0 + int(35 * s)), max(2, int(14 * s)), (90, 220, 250), -1,
               cv2.LINE_AA)
    cv2.rectangle(canvas, (px0, py0), (px1, py1), (40, 120, 170), max(1, int(4 * s)))

    # Bookshelf with books of many colours and heights: lots of fine edges.
    bx0, by0, bx1, by1 = int(0.70 * width), int(0.14 * height), int(0.95 * width), int(0.80 * height)
    cv2.rectangle(canvas, (bx0, by0), (bx1, by1), (30, 55, 85), -1)
    shelves = 4
    board = max(2, int(10 * s))
    shelf_h = (by1 - by0) // shelves
    for k in range(shelves):
        top = by0 + k * shelf_h
        cv2.rectangle(canvas, (bx0, top + shelf_h - board), (bx1, top + shelf_h), (45, 80, 120), -1)
        x = bx0 + board
        while x < bx1 - board - 4 * s:
            book_w = int(rng.uniform(9, 22) * s) + 1
            book_h = int(rng.uniform(0.6, 0.92) * (shelf_h - 2 * board))
            if x + book_w > bx1 - board:
                break
            color = tuple(int(c) for c in rng.integers(40, 220, 3))
            bottom = top + shelf_h - board
            cv2.rectangle(canvas, (x, bottom - book_h), (x + book_w - 1, bottom), color, -1)
            cv2.line(canvas, (x, bottom - book_h), (x, bottom), (20, 20, 20), 1)
            band = bottom - int(book_h * rng.uniform(0.5, 0.8))
            cv2.line(canvas, (x + 2, band), (x + book_w - 3, band), (200, 220, 230), max(1, int(2 * s)))
            x += book_w + int(rng.uniform(0, 3) * s)
    cv2.rectangle(canvas, (bx0, by0), (bx1, by1), (25, 45, 70), board)

    # A plant in a pot by the shelf.
    pot_x, pot_y = int(0.62 * width), int(0.80 * height)
    pot = np.array([[pot_x - int(40 * s), pot_y - int(80 * s)], [pot_x + int(40 * s), pot_y - int(80 * s)],
                    [pot_x + int(30 * s), pot_y], [pot_x - int(30 * s), pot_y]], np.int32)
    cv2.fillPoly(canvas, [pot], (60, 90, 170), cv2.LINE_AA)
    for _ in range(14):
        angle = rng.uniform(-150, -30)
        length = rng.uniform(60, 130) * s
        tip = (int(pot_x + math.cos(math.radians(angle)) * length),
               int(pot_y - 80 * s + math.sin(math.radians(angle)) * length))
        mid = ((pot_x + tip[0]) // 2, (int(pot_y - 80 * s) + tip[1]) // 2)
        cv2.ellipse(canvas, mid, (max(2, int(length / 2)), max(1, int(9 * s))), angle, 0, 360,
                    (40, int(rng.uniform(110, 170)), 50), -1, cv2.LINE_AA)

    # Light: bright near the window, a warm lamp glow on the right, a vignette.
    light = (0.78
             + 0.35 * np.exp(-(((xs - 0.17) / 0.28) ** 2 + ((ys - 0.33) / 0.45) ** 2))
             + 0.15 * np.exp(-(((xs - 0.85) / 0.18) ** 2 + ((ys - 0.10) / 0.25) ** 2))
             - 0.22 * (((xs - 0.5) / 0.7) ** 2 + ((ys - 0.5) / 0.8) ** 2))
    lit = canvas.astype(np.float32) * light[..., None]
    lit[..., 2] *= 1.0 + 0.04 * np.exp(-(((xs - 0.85) / 0.2) ** 2))  # the lamp is warm
    return np.clip(lit, 0, 255).astype(np.uint8)


def _draw_figures(frame_height: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Six sprites (eyes open/closed x mouth closed/ajar/open), uint8 BGR, and their alphas, float32 0..1."""
    s = frame_height / 720.0
    sprite_w, sprite_h = int(600 * s) + 2, int(560 * s) + 2
    cx = sprite_w // 2
    head_c = (cx, int(190 * s))
    head_axes = (max(4, int(92 * s)), max(5, int(122 * s)))
    base = np.zeros((sprite_h, sprite_w, 3), np.uint8)
    mask = np.zeros((sprite_h, sprite_w), np.uint8)

    def shape(draw, color):
        draw(base, color)
        draw(mask, 255)

    # Shoulders and torso, neck.
    shape(lambda img, c: cv2.ellipse(img, (cx, int(560 * s)), (int(270 * s), int(190 * s)), 0, 180, 360, c, -1,
                                     cv2.LINE_AA), (110, 70, 40))
    shape(lambda img, c: cv2.rectangle(img, (cx - int(42 * s), int(270 * s)), (cx + int(42 * s), int(390 * s)), c, -1),
          (120, 150, 200))
    collar = np.array([[cx - int(70 * s), int(380 * s)], [cx, int(450 * s)], [cx + int(70 * s), int(380 * s)]], np.int32)
    cv2.fillPoly(base, [collar], (120, 150, 200), cv2.LINE_AA)
    cv2.polylines(base, [collar], False, (230, 230, 235), max(1, int(6 * s)), cv2.LINE_AA)
    # Hair behind the head, ears, the face.
    shape(lambda img, c: cv2.ellipse(img, (cx, head_c[1] - int(18 * s)), (head_axes[0] + int(14 * s),
                                                                          head_axes[1] + int(6 * s)), 0, 0, 360, c, -1,
                                     cv2.LINE_AA), (30, 45, 70))
    for side in (-1, 1):
        shape(lambda img, c, side=side: cv2.ellipse(img, (cx + side * head_axes[0], head_c[1] + int(5 * s)),
                                                    (max(2, int(16 * s)), max(3, int(28 * s))), 0, 0, 360, c, -1,
                                                    cv2.LINE_AA), (115, 145, 200))
    shape(lambda img, c: cv2.ellipse(img, head_c, head_axes, 0, 0, 360, c, -1, cv2.LINE_AA), (135, 170, 220))
    # Fringe over the forehead.
    hairline_y = head_c[1] - int(65 * s)
    cv2.ellipse(base, (cx, hairline_y), (head_axes[0] + int(6 * s), int(82 * s)), 0, 180, 360, (30, 45, 70), -1,
                cv2.LINE_AA)
    cv2.ellipse(base, (cx + int(12 * s), hairline_y), (head_axes[0] - int(6 * s), int(24 * s)), -8, 0, 180,
                (30, 45, 70), -1, cv2.LINE_AA)
    for _ in range(40):  # strands
        x = int(cx + rng.uniform(-0.9, 0.9) * head_axes[0])
        y0 = int(head_c[1] - rng.uniform(0.75, 1.05) * head_axes[1])
        cv2.line(base, (x, y0), (x + int(rng.uniform(-12, 12) * s), y0 + int(rng.uniform(20, 45) * s)),
                 (45, 65, 95), 1, cv2.LINE_AA)
    # Shading: lit from the window on the left, darker to the right and under the chin.
    xs = np.linspace(1.12, 0.78, sprite_w, dtype=np.float32)[None, :, None]
    shaded = np.clip(base.astype(np.float32) * xs, 0, 255).astype(np.uint8)
    cv2.ellipse(shaded, (cx, head_c[1] + int(60 * s)), (int(34 * s), int(18 * s)), 0, 0, 360,
                (125, 150, 205), -1, cv2.LINE_AA)  # cheeks/chin tone
    # Brows and nose.
    eye_y = head_c[1] - int(10 * s)
    for side in (-1, 1):
        ex = cx + side * int(38 * s)
        cv2.line(shaded, (ex - int(20 * s), eye_y - int(28 * s)), (ex + int(20 * s), eye_y - int(30 * s) - side),
                 (35, 45, 60), max(1, int(7 * s)), cv2.LINE_AA)
    cv2.line(shaded, (cx + int(2 * s), eye_y + int(10 * s)), (cx - int(8 * s), eye_y + int(50 * s)),
             (100, 125, 175), max(1, int(4 * s)), cv2.LINE_AA)
    cv2.ellipse(shaded, (cx - int(2 * s), eye_y + int(54 * s)), (int(14 * s), int(6 * s)), 0, 0, 180,
                (95, 115, 165), max(1, int(3 * s)), cv2.LINE_AA)

    sprites, alphas = [], []
    alpha = mask.astype(np.float32) / 255.0
    mouth_y = head_c[1] + int(72 * s)
    for closed_eyes in (False, True):
        for mouth in range(3):
            face = shaded.copy()
            for side in (-1, 1):
                ex = cx + side * int(38 * s)
                if closed_eyes:
                    cv2.ellipse(face, (ex, eye_y), (int(18 * s), int(6 * s)), 0, 0, 180, (50, 60, 80),
                                max(1, int(3 * s)), cv2.LINE_AA)
                else:
                    cv2.ellipse(face, (ex, eye_y), (int(19 * s), int(10 * s)), 0, 0, 360, (240, 245, 245), -1,
                                cv2.LINE_AA)
                    cv2.circle(face, (ex + int(2 * s), eye_y), max(1, int(8 * s)), (40, 70, 110), -1, cv2.LINE_AA)
                    cv2.circle(face, (ex + int(2 * s), eye_y), max(1, int(4 * s)), (10, 10, 10), -1, cv2.LINE_AA)
                    cv2.circle(face, (ex + int(5 * s), eye_y - int(3 * s)), max(1, int(2 * s)), (255, 255, 255), -1,
                               cv2.LINE_AA)
                    cv2.ellipse(face, (ex, eye_y), (int(19 * s), int(10 * s)), 0, 180, 360, (60, 80, 110),
                                max(1, int(2 * s)), cv2.LINE_AA)
            if mouth == 0:
                cv2.ellipse(face, (cx, mouth_y), (int(30 * s), int(8 * s)), 0, 0, 180, (70, 70, 170),
                            max(1, int(5 * s)), cv2.LINE_AA)
            else:
                opening = int((7 + 9 * mouth) * s)
                cv2.ellipse(face, (cx, mouth_y), (int(28 * s), max(1, opening)), 0, 0, 360, (90, 90, 190), -1,
                            cv2.LINE_AA)
                cv2.ellipse(face, (cx, mouth_y), (int(21 * s), max(1, opening - int(5 * s))), 0, 0, 360,
                            (30, 25, 60), -1, cv2.LINE_AA)
                cv2.line(face, (cx - int(14 * s), mouth_y - opening + int(6 * s)),
                         (cx + int(14 * s), mouth_y - opening + int(6 * s)), (235, 235, 240), max(1, int(4 * s)))
            sprites.append(face)
            alphas.append(alpha)
    return sprites, alphas
