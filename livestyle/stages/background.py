"""The background stage: blur, replace or cut out what is not the person.

Modes (``--background``, the control ``background``): ``keep`` (the stage is off), ``blur`` (strength from
the ``blur`` control, 0..1), ``image`` (the picture given with ``--background image:PATH``, scaled to cover
the frame), ``color`` (one colour, ``--background color:#RRGGBB`` or the ``background-color`` control) and
``transparent`` (the frame gets the matte as an alpha channel: uint8 BGRA out, for an output that carries
alpha, such as the network stream into OBS).

The blurred background is made on the inference thread from the smallest picture at hand (the look's
styled frame at its inference size while the look covers the background, else the matte's work frame)
as a masked blur that never pulls the person's colours into the background; the output thread only
composites, within the matte's box (outside it the output is the background).  In the modes that
replace the background, ``process`` tells the stages before it (``work.extra["replaces_outside"]``, the
box) that the frame outside the box is not shown, and ``finish`` takes the look's styled box
(``work.extra["styled_box"]``) where the look made only that.

With no person in the frame the matte is empty, so the background mode applies to the whole frame
(everything is blurred or replaced).
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.controls import ControlState
from livestyle.errors import UsageError
from livestyle.ops import matte as ops
from livestyle.stages import Stage, Work

__all__ = ["BackgroundStage", "load_background_image", "MODES"]

MODES = ("keep", "blur", "image", "color", "transparent")


def load_background_image(path: str) -> np.ndarray:
    """The picture for ``--background image:PATH`` as uint8 BGR; one clear :class:`UsageError` otherwise."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--background image:{path}: no such file.", fix="Give the path of a PNG or JPEG picture.")
    try:
        data = np.fromfile(p, np.uint8)
    except OSError as e:
        raise UsageError(f"--background image:{path} cannot be read ({e.strerror}).",
                         fix="Check the file's permissions.") from None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise UsageError(f"--background image:{path} is not a picture OpenCV can read.",
                         fix="Give a PNG, JPEG, BMP or WebP file.")
    return img


class BackgroundStage(Stage):
    """See the module docstring.  ``frame_size`` (W, H); ``image`` the ``image`` mode's picture (uint8 BGR) or None."""

    name = "background"

    def __init__(self, frame_size: tuple[int, int], *, image: np.ndarray | None = None):
        super().__init__()
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self._image = ops.image_background(image, self.frame_size) if image is not None else None
        self._solid: tuple[str, np.ndarray] | None = None

    @property
    def has_image(self) -> bool:
        return self._image is not None

    def enabled(self, state: ControlState) -> bool:
        return state.background != "keep"

    def process(self, work: Work) -> None:
        m = work.extra.get("matte")
        if m is None:
            return
        mode = work.state.background
        if mode == "blur":
            styled_bg = work.styled is not None and work.strength > 0 and work.state.look_on in ("both", "background")
            src = work.styled if styled_bg else m.work
            bg = work.extra["background"] = ops.blurred_background(src, m.mask, work.state.blur, self.frame_size)
            replaces = bg is not None
        else:
            replaces = mode == "color" or (mode == "image" and self._image is not None)
        if replaces and m.box is not None:
            # the stages before may work on the box only: outside it, finish puts the background
            work.extra["replaces_outside"] = m.box

    def _solid_for(self, colour: str) -> np.ndarray:
        if self._solid is None or self._solid[0] != colour:
            self._solid = (colour, ops.solid_background((self.frame_size[1], self.frame_size[0]),
                                                       ops.parse_colour(colour)))
        return self._solid[1]

    def finish(self, work: Work, image: np.ndarray) -> np.ndarray:
        m = work.extra.get("matte")
        if m is None:
            return image
        mode = work.state.background
        if mode == "transparent":
            return ops.with_alpha(image, m.alpha)
        box = m.box if m.box is not None else (0, 0, 0, 0)
        styled = work.extra.pop("styled_box", None)  # the look made the box only (see process)
        if styled is not None and mode in ("blur", "color", "image"):
            image = styled
        if mode == "blur":
            bg = work.extra.pop("background", None)
            # this frame's own blurred background: composited in place
            return image if bg is None else ops.composite(image, m.alpha, bg, box=box, out=bg)
        if mode == "color":
            bg = self._solid_for(work.state.background_color)
        elif mode == "image":
            bg = self._image
        else:
            bg = None
        if bg is None:
            return image
        return ops.composite(image, m.alpha, bg, box=box)

    def status(self, state: ControlState) -> tuple[str, list[str]]:
        if state.background == "keep":
            return "", []
        what = f"blur {state.blur:.1f}" if state.background == "blur" else state.background
        return "", [f"background {what}"]

    def state(self) -> dict:
        return {"background_image": self.has_image}
