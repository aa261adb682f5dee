"""What one ``livestyle run`` is asked to do (:class:`RunConfig`) and the size helpers it needs.

Pure data and arithmetic: importing this module opens nothing and imports no backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from livestyle.errors import UsageError
from livestyle.frame import MIN_SIDE
from livestyle.ops.upsample import METHODS

QUALITY_MODES = ("auto", "fixed")
TEMPORAL_MODES = ("auto", "on", "off")
BACKGROUND_SPECS = ("keep", "blur", "image:PATH", "color:#RRGGBB", "transparent")
LOOK_ON = ("both", "person", "background")

__all__ = ["BACKGROUND_SPECS", "LOOK_ON", "QUALITY_MODES", "TEMPORAL_MODES", "RunConfig", "align_infer_size",
           "default_infer_size", "parse_background", "parse_size"]


def parse_background(spec: str) -> tuple[str, str | None]:
    """``--background`` -> (mode, argument): ``keep``, ``blur``, ``transparent`` take none; ``image:PATH`` the
    path and ``color:#RRGGBB`` (or ``colour:``) the colour as ``#rrggbb``.  Anything else is a UsageError."""
    from livestyle.ops.matte import parse_colour

    text = spec.strip()
    mode, _, arg = text.partition(":")
    mode = mode.lower()
    if mode in ("keep", "blur", "transparent") and not arg:
        return mode, None
    if mode == "image" and arg:
        return "image", arg
    if mode in ("color", "colour") and arg:
        try:
            b, g, r = parse_colour(arg)
        except ValueError:
            raise UsageError(f"--background {spec}: {arg!r} is not a colour.",
                             fix="Write it as color:#RRGGBB, e.g. --background color:#00b140.") from None
        return "color", f"#{r:02x}{g:02x}{b:02x}"
    raise UsageError(f"--background {spec!r} is not one of {', '.join(BACKGROUND_SPECS)}.",
                     fix="For example --background blur or --background image:beach.jpg.")


@dataclass(frozen=True)
class RunConfig:
    """Everything ``livestyle run`` needs; sizes are (width, height).

    ``style`` is a look name, a pack folder, or a blend such as
    ``"pastel:0.7,mono:0.3"``.  ``control`` is (host, port) for the HTTP
    control API, or None.  ``quality`` is ``"auto"`` (adapt the inference
    size to hold the frame rate; live sources only) or ``"fixed"``.
    ``background`` is what happens behind the person (:func:`parse_background`),
    ``blur`` the blur mode's strength and ``look_on`` where the look applies.
    ``temporal`` is ``"auto"`` (the motion-aware filter runs while a look with
    a CNN is in the mix, and not for colour looks alone: a colour look's pixel
    follows its input pixel, and measured through the engine their flicker is
    below the camera's own, see benchmarks/RESULTS.md), ``"on"`` or ``"off"``;
    True and False mean "on" and "off".
    """

    input: str = "demo"
    output: str = "null"
    style: str | None = None
    strength: float = 1.0
    size: tuple[int, int] | None = None
    fps: float | None = None
    backend: str = "auto"
    infer_size: tuple[int, int] | None = None
    max_frames: int | None = None
    report: str | None = None
    realtime: bool = False
    upsample: str = "detail"
    temporal: bool | str = "auto"
    vcam_device: str | None = None
    warmup_s: float = 1.0  # drops in the first second (caches, first inference) are not "steady state"
    control: tuple[str, int] | None = None
    control_token: str | None = None
    obs: str | None = None
    obs_password: str | None = None
    obs_mic: str | None = None
    quality: str = "auto"
    max_fps: float | None = None
    remember_quality: bool = True  # start where the last such run settled, and remember this one's size
    background: str = "keep"       # keep | blur | image:PATH | color:#RRGGBB | transparent
    blur: float = 0.5              # the blur mode's strength, 0..1
    look_on: str = "both"          # where the look applies: both | person | background
    beauty: str | None = None      # "smooth=0.5,tone=0.2,slim=0.2,eyes=0.1" (any subset), or None

    @property
    def temporal_mode(self) -> str:
        """``temporal`` as one of TEMPORAL_MODES (True -> "on", False -> "off")."""
        if self.temporal is True:
            return "on"
        if self.temporal is False:
            return "off"
        return self.temporal

    def validate(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise UsageError(f"--strength {self.strength} is outside 0..1.", fix="Use a value such as 0.8.")
        if self.upsample not in METHODS:
            raise UsageError(f"--upsample {self.upsample!r} is not one of {', '.join(METHODS)}.")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError(f"--max-frames {self.max_frames} must be at least 1.")
        if self.fps is not None and not 0 < self.fps <= 240:
            raise UsageError(f"--fps {self.fps} is outside 1..240.")
        if self.max_fps is not None and not 0 < self.max_fps <= 240:
            raise UsageError(f"--max-fps {self.max_fps} is outside 1..240.")
        if self.temporal_mode not in TEMPORAL_MODES:
            raise UsageError(f"--temporal {self.temporal!r} is not one of {', '.join(TEMPORAL_MODES)}.")
        if self.obs_mic is not None and self.obs is None:
            raise UsageError(f"--obs-mic {self.obs_mic!r} needs --obs: livestyle sets the mic's sync offset through "
                             "the OBS link.", fix="Add --obs (and --obs-password if OBS asks for one).")
        parse_background(self.background)
        if not 0.0 <= self.blur <= 1.0:
            raise UsageError(f"--blur {self.blur} is outside 0..1.", fix="Use a value such as 0.5.")
        if self.beauty is not None:
            from livestyle.controls import CommandError, parse_beauty

            try:
                parse_beauty(self.beauty)
            except CommandError as e:
                raise UsageError(f"--beauty {self.beauty}: {e.message}", fix=e.fix) from None
        if self.look_on not in LOOK_ON:
            raise UsageError(f"--look-on {self.look_on!r} is not one of {', '.join(LOOK_ON)}.")
        if self.quality not in QUALITY_MODES:
            raise UsageError(f"--quality {self.quality!r} is not one of {', '.join(QUALITY_MODES)}.")
        for flag, size in (("--size", self.size), ("--infer-size", self.infer_size)):
            if size is not None and min(size) < MIN_SIDE:
                raise UsageError(f"{flag} {size[0]}x{size[1]} is too small: livestyle needs at least "
                                 f"{MIN_SIDE} pixels on each side (its motion filter works on a pyramid).",
                                 fix=f"Use {flag} {max(size[0], MIN_SIDE)}x{max(size[1], MIN_SIDE)} or larger.")


def parse_size(text: str, flag: str = "--size") -> tuple[int, int]:
    """'1280x720' -> (1280, 720); anything else is a UsageError."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        w, h = int(parts[0]), int(parts[1])
        if 1 <= w <= 7680 and 1 <= h <= 4320:
            if min(w, h) < MIN_SIDE:
                raise UsageError(f"{flag} {text} is too small: livestyle needs at least {MIN_SIDE} pixels on "
                                 "each side (its motion filter works on a pyramid).",
                                 fix=f"Use {flag} {max(w, MIN_SIDE)}x{max(h, MIN_SIDE)} or larger.")
            return w, h
    raise UsageError(f"{flag} {text!r} is not a size of the form WxH.", fix=f"Write it like {flag} 1280x720.")


def default_infer_size(size: tuple[int, int], long_side: int = 512) -> tuple[int, int]:
    """CPU inference size: the frame's aspect ratio, long side ``long_side``, multiples of 8.

    512 on the long side (512x288 for 16:9) was chosen by measurement: see
    benchmarks/RESULTS.md (``infer-size sweep``).  On a CUDA backend :func:`livestyle.session.run`
    infers at the full output size instead.
    """
    w, h = size
    scale = min(1.0, long_side / max(w, h))
    return max(8, int(round(w * scale / 8)) * 8), max(8, int(round(h * scale / 8)) * 8)


def align_infer_size(size: tuple[int, int], multiple: int = 4) -> tuple[int, int]:
    """Round down to multiples of ``multiple`` (the looks' ``size_multiple``: 4 for the CNN student, whose
    generator halves the frame twice; 1 for colour-LUT looks)."""
    m = max(1, int(multiple))
    return max(m, size[0] // m * m), max(m, size[1] // m * m)
