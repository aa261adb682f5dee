"""The live settings a streamer changes on air, and the one vocabulary of commands that changes them.

Every writer (the preview window's keys, the HTTP control API and its
``/act/`` URLs, the web panel, the OBS script through that API) sends a
:class:`Command` -- a name from the table :data:`COMMANDS` and a value -- to
:meth:`Controls.apply`, which is the only place a command is understood:
it validates the value (numbers finite and in range, look names installed),
applies it under one lock and returns the new :class:`ControlState`, or
raises :class:`CommandError` (one sentence and a fix) and changes nothing.

The vocabulary (value ``-`` = the command takes none):

================  ==========================  ===============================================
name              value                       effect
================  ==========================  ===============================================
style             a look name                 show that look (cut)
style-number      1..N                        show the N-th installed look (cross-fade)
weights           {look: weight >= 0, ...}    show a blend; weights are normalised to sum 1
next-style        -                           the next installed look (cross-fade, wraps)
prev-style        -                           the previous installed look (cross-fade, wraps)
strength          0..1                        how much of the look is applied
strength-up       -                           strength + 0.1 (clamped to 1)
strength-down     -                           strength - 0.1 (clamped to 0)
bypass            true / false                pass the camera through untouched, or not
bypass-toggle     -                           flip bypass
quit              -                           end the run (local only: not over HTTP)
background        keep|blur|image|color|      what happens behind the person (``image`` needs
                  transparent                 ``--background image:PATH``; ``transparent`` an
                                              output that carries alpha)
background-next   -                           the next background mode this run offers (wraps)
background-blur   0..1                        how strongly ``blur`` blurs
blur-up           -                           blur + 0.1 (at most 1)
blur-down         -                           blur - 0.1 (at least 0)
background-color  #RRGGBB                     the colour of ``color`` (also switches to it)
look-on           both|person|background      where the look is applied
beauty            {smooth|tone|slim|eyes:     the beauty amounts named (others kept), each 0..1;
                  0..1} or "smooth=0.5,..."   also turns beauty on
beauty-toggle     -                           beauty off (amounts kept) or back on
================  ==========================  ===============================================

Adding a control (background mode, blur strength, ...) is one
:class:`CommandSpec` row in :data:`COMMANDS` with its parser (which
validates and converts the value) and its action (usually
``_set("field")``), plus the :class:`ControlState` field it writes; the
HTTP API (``POST /api/command``, ``GET /act/NAME?value=...``) and the
documentation table reach it without further edits.

Each frame the pipeline reads one immutable :class:`ControlState`
snapshot, so a frame never sees half a change.  Every change bumps
``version`` and stamps ``t_changed`` (``time.perf_counter()``), which is how
"command -> first output frame that shows it" is measured.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from livestyle.errors import UsageError

STRENGTH_STEP = 0.1


class CommandError(UsageError):
    """A control command that cannot be applied: unknown name, missing or malformed value, out of range."""


@dataclass(frozen=True, slots=True)
class Command:
    """One control command: ``name`` from :data:`COMMANDS` and its ``value`` (None for commands without one).

    Values are as JSON carries them: ``str`` (a look), ``int``/``float``
    (strength, a look's number), ``bool`` (bypass), a ``dict`` of look ->
    weight.  :meth:`Controls.apply` validates them; building a Command never does.
    """

    name: str
    value: Any = None


def format_weights(weights: Mapping[str, float]) -> str:
    """``{"pastel": 1.0}`` -> ``"pastel"``; a blend -> ``"pastel:0.70,mono:0.30"`` (largest first)."""
    items = sorted(((n, w) for n, w in weights.items() if w > 0), key=lambda kv: (-kv[1], kv[0]))
    if len(items) == 1:
        return items[0][0]
    return ",".join(f"{n}:{w:.2f}" for n, w in items)


def _finite_number(value, what: str, fix: str) -> float:
    """``value`` as a finite float; bools, strings, NaN, infinities and ints too large for a float are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CommandError(f"{what} must be a number, got {value!r:.40}.", fix=fix)
    try:
        v = float(value)
    except OverflowError:  # an int beyond 1.8e308
        raise CommandError(f"{what} is too large a number.", fix=fix) from None
    if not math.isfinite(v):
        raise CommandError(f"{what} is {v}; it must be a finite number.", fix=fix)
    return v + 0.0  # -0.0 -> 0.0


def normalise_weights(weights: Mapping[str, float], looks: Sequence[str] | None = None) -> dict[str, float]:
    """Weights as a dict summing to 1 (zeros dropped); CommandError for unknown looks, non-numbers, negatives,
    NaN, infinities or a zero sum.

    Divides by the largest weight first, so any finite weights (even
    ``1e308`` twice) normalise without overflowing to infinity.
    """
    if not isinstance(weights, Mapping):
        raise CommandError(f"weights must be an object such as {{\"pastel\": 0.7, \"mono\": 0.3}}, "
                           f"got {type(weights).__name__}.")
    if not weights:
        raise CommandError("No look was given.", fix="Name a look, e.g. pastel, or a blend such as pastel:0.7,mono:0.3.")
    clean: dict[str, float] = {}
    for name, w in weights.items():
        if not isinstance(name, str) or (looks is not None and name not in looks):
            raise CommandError(f"Unknown look {name!r:.60} (installed: {', '.join(looks or ()) or 'none'}).",
                               fix="Pick one of the installed looks (`livestyle styles`).")
        w = _finite_number(w, f"The weight of {name!r}", "Use numbers of 0 or more, such as 0.7.")
        if w < 0:
            raise CommandError(f"The weight of {name!r} is {w}; weights must be 0 or more.",
                               fix="Use numbers of 0 or more, such as 0.7.")
        if w > 0:
            clean[name] = w
    top = max(clean.values(), default=0.0)
    if top <= 0:
        raise CommandError("The look weights add up to 0.", fix="Give at least one look a weight above 0.")
    scaled = {n: w / top for n, w in clean.items()}  # each in (0, 1]: the sum cannot overflow
    scaled = {n: w for n, w in scaled.items() if w > 0}  # a weight 1e308 times smaller than the largest is 0
    total = sum(scaled.values())
    return {n: w / total for n, w in scaled.items()}


@dataclass(frozen=True, slots=True)
class ControlState:
    """One consistent view of the controls.

    ``weights`` maps look names to weights summing to 1 (one entry for a
    single look); ``strength`` is 0..1; ``version`` counts changes;
    ``t_changed`` is the ``perf_counter`` time of the last change; ``fade``
    says whether the last look change should cross-fade (preview keys,
    next/previous) or cut.  ``background`` is the background mode, ``blur``
    its blur strength (0..1), ``background_color`` the ``color`` mode's
    ``#rrggbb``, ``look_on`` where the look applies (both, person, background).
    """

    weights: tuple[tuple[str, float], ...]
    strength: float
    bypass: bool
    version: int
    t_changed: float
    fade: bool = False
    background: str = "keep"
    blur: float = 0.5
    background_color: str = "#00b140"
    look_on: str = "both"
    beauty: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # smooth, tone, slim, eyes
    beauty_on: bool = True

    @property
    def beauty_amounts(self) -> dict[str, float]:
        """The beauty amounts in effect (all 0 while beauty is toggled off)."""
        return {k: (v if self.beauty_on else 0.0) for k, v in zip(BEAUTY_KEYS, self.beauty)}

    @property
    def beauty_active(self) -> bool:
        return self.beauty_on and any(v > 0 for v in self.beauty)

    @property
    def weight_map(self) -> dict[str, float]:
        return dict(self.weights)

    @property
    def look(self) -> str:
        """The dominant look's name."""
        return max(self.weights, key=lambda kv: kv[1])[0]

    @property
    def label(self) -> str:
        return format_weights(self.weight_map)

    @property
    def effective_strength(self) -> float:
        return 0.0 if self.bypass else self.strength


# -- the vocabulary ------------------------------------------------------------------------------

def _parse_strength(value, controls: "Controls") -> float:
    fix = "Use a value in 0..1, such as 0.8."
    v = _finite_number(value, "Strength", fix)
    if not 0.0 <= v <= 1.0:
        raise CommandError(f"Strength {v} is outside 0..1.", fix=fix)
    return v


def _parse_look(value, controls: "Controls") -> str:
    if not isinstance(value, str):
        raise CommandError(f"A look must be given by its name (a string), got {value!r:.40}.",
                           fix="Send a name such as \"pastel\".")
    if value not in controls.looks:
        raise CommandError(f"Unknown look {value!r:.60} (installed: {', '.join(controls.looks) or 'none'}).",
                           fix="Pick one of the installed looks (`livestyle styles`).")
    return value


def _parse_look_number(value, controls: "Controls") -> str:
    n = len(controls.looks)
    fix = f"Send a whole number from 1 to {n}."
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise CommandError(f"A look number must be a whole number, got {value!r:.40}.", fix=fix)
    if not 1 <= value <= n:
        raise CommandError(f"There is no look number {value} ({n} installed).", fix=fix)
    return controls.looks[value - 1]


def _parse_weights(value, controls: "Controls") -> tuple[tuple[str, float], ...]:
    return tuple(normalise_weights(value, controls.looks).items())


def _parse_bool(value, controls: "Controls") -> bool:
    if not isinstance(value, bool):
        raise CommandError(f"Bypass must be true or false, got {value!r:.40}.", fix="Send true or false.")
    return value


BACKGROUND_MODES = ("keep", "blur", "image", "color", "transparent")
BEAUTY_KEYS = ("smooth", "tone", "slim", "eyes")


def parse_beauty_items(value) -> dict[str, float]:
    """The beauty amounts named in ``{"smooth": 0.5, ...}`` or ``"smooth=0.5,tone=0.2"``, checked.

    Raises :class:`CommandError` (one line) for an unknown key, a value that is not a number or lies
    outside 0..1, or an empty value.
    """
    fix = f"Use keys {', '.join(BEAUTY_KEYS)} with values in 0..1, e.g. smooth=0.5,tone=0.2."
    if isinstance(value, str):
        items = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            key, eq, num = part.partition("=")
            if not eq:
                raise CommandError(f"Beauty setting {part!r:.40} is not KEY=VALUE.", fix=fix)
            try:
                items[key.strip()] = float(num)
            except ValueError:
                raise CommandError(f"Beauty {key.strip()!r:.20}: {num.strip()!r:.20} is not a number.", fix=fix) from None
        value = items
    if not isinstance(value, Mapping) or not value:
        raise CommandError(f"Beauty needs amounts such as {{\"smooth\": 0.5}}, got {value!r:.40}.", fix=fix)
    out = {}
    for key, v in value.items():
        if key not in BEAUTY_KEYS:
            raise CommandError(f"Unknown beauty key {key!r:.30}.", fix=fix)
        v = _finite_number(v, f"Beauty {key}", fix)
        if not 0.0 <= v <= 1.0:
            raise CommandError(f"Beauty {key} {v} is outside 0..1.", fix=fix)
        out[key] = v
    return out


def parse_beauty(value, base: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)) -> tuple[float, float, float, float]:
    """``base`` (smooth, tone, slim, eyes) with the amounts :func:`parse_beauty_items` reads from ``value``."""
    items = parse_beauty_items(value)
    return tuple(items.get(k, b) for k, b in zip(BEAUTY_KEYS, base))


def _parse_beauty(value, controls: "Controls") -> dict:
    if "beauty" not in controls.features:
        raise CommandError(f"Beauty is not available in this run: {controls.beauty_why or 'no face model'}.",
                           fix="Run `livestyle models fetch`, then start the run again.")
    return parse_beauty_items(value)  # merged into the current amounts in the change, under the lock

LOOK_ON = ("both", "person", "background")


def _parse_unit(what: str) -> Callable[[Any, "Controls"], float]:
    def parse(value, controls: "Controls") -> float:
        fix = "Use a value in 0..1, such as 0.5."
        v = _finite_number(value, what, fix)
        if not 0.0 <= v <= 1.0:
            raise CommandError(f"{what} {v} is outside 0..1.", fix=fix)
        return v
    return parse


def _parse_background(value, controls: "Controls") -> str:
    if not isinstance(value, str) or value not in BACKGROUND_MODES:
        raise CommandError(f"Unknown background mode {value!r:.40}.", fix=f"Use one of: {', '.join(BACKGROUND_MODES)}.")
    if value not in controls.background_modes:
        why = controls.background_why.get(value, "this run does not offer it")
        raise CommandError(f"The background mode {value!r} is not available: {why}.",
                           fix=f"Use one of: {', '.join(controls.background_modes)}.")
    return value


def _parse_colour(value, controls: "Controls") -> str:
    from livestyle.ops.matte import parse_colour

    try:
        b, g, r = parse_colour(value if isinstance(value, str) else "")
    except ValueError:
        raise CommandError(f"{value!r:.40} is not a colour.", fix="Send a colour as #RRGGBB, e.g. #00b140.") from None
    return f"#{r:02x}{g:02x}{b:02x}"


def _parse_look_on(value, controls: "Controls") -> str:
    if not isinstance(value, str) or value not in LOOK_ON:
        raise CommandError(f"look-on must be one of {', '.join(LOOK_ON)}, got {value!r:.40}.",
                           fix="Send both, person or background.")
    if value != "both" and "person" not in controls.features:
        raise CommandError("The look can only cover both person and background: the person stage is not "
                           f"running ({controls.background_why.get('blur', 'no person model')}).",
                           fix="Send both.")
    return value


def _next_background(state: ControlState, _value, controls: "Controls") -> dict:
    modes = controls.background_modes
    i = modes.index(state.background) if state.background in modes else -1
    return {"background": modes[(i + 1) % len(modes)]}


def _nudge_blur(delta: float) -> Callable[[ControlState, Any, "Controls"], dict]:
    return lambda s, _v, _c: {"blur": min(1.0, max(0.0, round(s.blur + delta, 2))) + 0.0}


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One row of the vocabulary.

    ``parse(value, controls)`` validates and converts the value (raising
    :class:`CommandError`), or is None for a command that takes no value;
    ``change(state, clean_value, controls)`` returns the fields of
    :class:`ControlState` to replace (an empty dict: nothing changes).
    ``value`` and ``summary`` document it; ``remote`` says whether the HTTP
    API may send it; ``keys`` lists the preview window's keys for it.
    """

    name: str
    value: str
    summary: str
    parse: Callable[[Any, "Controls"], Any] | None
    change: Callable[[ControlState, Any, "Controls"], dict]
    remote: bool = True
    keys: str = ""


def _step(delta: int) -> Callable[[ControlState, Any, "Controls"], dict]:
    def change(state: ControlState, _value, controls: "Controls") -> dict:
        if not controls.looks:
            return {}
        i = controls.looks.index(state.look) if state.look in controls.looks else -1
        return {"weights": ((controls.looks[(i + delta) % len(controls.looks)], 1.0),), "fade": True}
    return change


def _nudge(delta: float) -> Callable[[ControlState, Any, "Controls"], dict]:
    return lambda s, _v, _c: {"strength": min(1.0, max(0.0, round(s.strength + delta, 2))) + 0.0}


def _quit(state: ControlState, _value, controls: "Controls") -> dict:
    controls._quit = True
    return {}


COMMANDS: dict[str, CommandSpec] = {spec.name: spec for spec in (
    CommandSpec("style", "a look name", "show that look (cut)", _parse_look,
                lambda s, look, c: {"weights": ((look, 1.0),), "fade": False}),
    CommandSpec("style-number", "1..N", "show the N-th installed look (cross-fade)", _parse_look_number,
                lambda s, look, c: {"weights": ((look, 1.0),), "fade": True}, keys="1-9"),
    CommandSpec("weights", "{look: weight, ...}", "show a blend (weights >= 0, normalised to sum 1)", _parse_weights,
                lambda s, w, c: {"weights": w, "fade": False}),
    CommandSpec("next-style", "-", "the next installed look (cross-fade, wraps around)", None, _step(+1)),
    CommandSpec("prev-style", "-", "the previous installed look (cross-fade, wraps around)", None, _step(-1)),
    CommandSpec("strength", "0..1", "how much of the look is applied", _parse_strength,
                lambda s, v, c: {"strength": v}),
    CommandSpec("strength-up", "-", f"strength + {STRENGTH_STEP} (at most 1)", None, _nudge(+STRENGTH_STEP),
                keys="+ ="),
    CommandSpec("strength-down", "-", f"strength - {STRENGTH_STEP} (at least 0)", None, _nudge(-STRENGTH_STEP),
                keys="-"),
    CommandSpec("bypass", "true | false", "pass the input through untouched, or style it again", _parse_bool,
                lambda s, v, c: {"bypass": v}),
    CommandSpec("bypass-toggle", "-", "flip bypass", None, lambda s, v, c: {"bypass": not s.bypass}, keys="space"),
    CommandSpec("quit", "-", "end the run", None, _quit, remote=False, keys="q Esc (or close the window)"),
    CommandSpec("background", "keep | blur | image | color | transparent", "what happens behind the person",
                _parse_background, lambda s, v, c: {"background": v}),
    CommandSpec("background-next", "-", "the next background mode this run offers (wraps around)", None,
                _next_background, keys="b"),
    CommandSpec("background-blur", "0..1", "how strongly the blur mode blurs", _parse_unit("Blur"),
                lambda s, v, c: {"blur": v}),
    CommandSpec("blur-up", "-", "blur + 0.1 (at most 1)", None, _nudge_blur(+0.1)),
    CommandSpec("blur-down", "-", "blur - 0.1 (at least 0)", None, _nudge_blur(-0.1)),
    CommandSpec("background-color", "#RRGGBB", "the colour of the color mode (switches to it)", _parse_colour,
                lambda s, v, c: {"background_color": v, "background": "color"}
                if "color" in c.background_modes else {"background_color": v}),
    CommandSpec("look-on", "both | person | background", "where the look is applied", _parse_look_on,
                lambda s, v, c: {"look_on": v}),
    CommandSpec("beauty", '{"smooth": 0..1, "tone": .., "slim": .., "eyes": ..} or "smooth=0.5,..."',
                "set the beauty amounts named (the others stay) and turn beauty on", _parse_beauty,
                lambda s, v, c: {"beauty": tuple(v.get(k, b) for k, b in zip(BEAUTY_KEYS, s.beauty)),
                                 "beauty_on": True}),
    CommandSpec("beauty-toggle", "-", "beauty off (amounts kept) or back on", None,
                lambda s, v, c: {"beauty_on": not s.beauty_on}),
)}


class Controls:
    """Thread-safe live settings; see the module docstring.

    ``looks`` is the ordered list of installed look names (for next/previous
    and look numbers).  :meth:`apply` is the one writer; :meth:`snapshot`
    reads; :meth:`wait_change` lets a reader (the server-sent-events stream)
    sleep until something changes.
    """

    def __init__(self, looks: Sequence[str], *, weights: Mapping[str, float], strength: float = 1.0,
                 bypass: bool = False, background: str = "keep", blur: float = 0.5,
                 background_color: str = "#00b140", look_on: str = "both",
                 background_modes: Sequence[str] = ("keep",), background_why: Mapping[str, str] | None = None,
                 beauty: Mapping[str, float] | None = None, beauty_available: bool = False, beauty_why: str = ""):
        self.looks = tuple(looks)
        # the background modes this run can show (``image`` needs a picture, ``transparent`` an output with
        # alpha, all but ``keep`` the person model) and, for the others, why not
        self.background_modes = tuple(m for m in BACKGROUND_MODES if m in background_modes or m == "keep")
        self.background_why = dict(background_why or {})
        self.features = frozenset(({"person"} if len(self.background_modes) > 1 else set())
                                  | ({"beauty"} if beauty_available else set()))
        self.beauty_why = beauty_why
        self._cond = threading.Condition()
        self._quit = False
        self._state = ControlState(_parse_weights(weights, self), _parse_strength(strength, self),
                                   _parse_bool(bool(bypass), self), 0, time.perf_counter(),
                                   background=_parse_background(background, self),
                                   blur=_parse_unit("Blur")(blur, self),
                                   background_color=_parse_colour(background_color, self),
                                   look_on=_parse_look_on(look_on, self),
                                   beauty=parse_beauty(beauty) if beauty else (0.0, 0.0, 0.0, 0.0))

    # -- reading ---------------------------------------------------------------------------
    def snapshot(self) -> ControlState:
        return self._state  # an immutable object, replaced whole under the lock

    def wait_change(self, version: int, timeout: float) -> ControlState:
        """The state once its version differs from ``version``, or the current one after ``timeout`` s."""
        with self._cond:
            if self._state.version == version:
                self._cond.wait(timeout)
            return self._state

    @property
    def quit_requested(self) -> bool:
        return self._quit

    # -- writing ---------------------------------------------------------------------------
    def apply(self, command: Command) -> ControlState:
        """Validate and apply one :class:`Command`; the new snapshot, or :class:`CommandError` (nothing changed)."""
        if not isinstance(command, Command):
            raise CommandError(f"A control command must be a Command, got {type(command).__name__}.",
                               fix="Build it as Command(name, value).")
        spec = COMMANDS.get(command.name) if isinstance(command.name, str) else None
        if spec is None:
            raise CommandError(f"Unknown command {command.name!r:.60}.", fix=f"Use one of: {', '.join(COMMANDS)}.")
        if spec.parse is None:
            if command.value is not None:
                raise CommandError(f"The command {spec.name!r} takes no value (got {command.value!r:.40}).",
                                   fix="Send it without a value.")
            value = None
        else:
            if command.value is None:
                raise CommandError(f"The command {spec.name!r} needs a value ({spec.value}).",
                                   fix=f"Send {spec.name} with a value: {spec.value}.")
            value = spec.parse(command.value, self)
        with self._cond:
            s = self._state
            changes = spec.change(s, value, self)
            if changes:
                self._state = dataclasses.replace(s, version=s.version + 1, t_changed=time.perf_counter(), **changes)
            self._cond.notify_all()
            return self._state
