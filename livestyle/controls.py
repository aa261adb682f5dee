"""The live settings a streamer changes on air: look (or a blend of looks), strength, bypass.

Every writer (preview keys, the HTTP control API, the OBS script through that
API) goes through :class:`Controls`, whose setters are absolute ("strength
0.6", "look pastel") or relative ("next look", "strength +0.1") and take one
lock.  Each frame the pipeline reads one immutable :class:`ControlState`
snapshot, so a frame never sees half a change.  Every change bumps
``version`` and stamps ``t_changed`` (``time.perf_counter()``), which is how
"command -> first output frame that shows it" is measured.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from livestyle.errors import UsageError

STRENGTH_STEP = 0.1


def format_weights(weights: Mapping[str, float]) -> str:
    """``{"pastel": 1.0}`` -> ``"pastel"``; a blend -> ``"pastel:0.70,mono:0.30"`` (largest first)."""
    items = sorted(((n, w) for n, w in weights.items() if w > 0), key=lambda kv: (-kv[1], kv[0]))
    if len(items) == 1:
        return items[0][0]
    return ",".join(f"{n}:{w:.2f}" for n, w in items)


def normalise_weights(weights: Mapping[str, float], looks: Sequence[str] | None = None) -> dict[str, float]:
    """Weights as a dict summing to 1 (zeros dropped); UsageError for unknown looks, negatives, NaN or a zero sum."""
    if not weights:
        raise UsageError("No look was given.", fix="Name a look, e.g. pastel, or a blend such as pastel:0.7,mono:0.3.")
    clean: dict[str, float] = {}
    for name, w in weights.items():
        if looks is not None and name not in looks:
            raise UsageError(f"Unknown look {name!r} (installed: {', '.join(looks) or 'none'}).",
                             fix="Pick one of the installed looks (`livestyle styles`).")
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise UsageError(f"The weight of {name!r} is not a number ({w!r}).", fix="Use numbers such as 0.7.") from None
        if not math.isfinite(w) or w < 0:
            raise UsageError(f"The weight of {name!r} is {w}; weights must be 0 or more.", fix="Use numbers such as 0.7.")
        if w > 0:
            clean[name] = clean.get(name, 0.0) + w
    total = sum(clean.values())
    if total <= 0:
        raise UsageError("The look weights add up to 0.", fix="Give at least one look a weight above 0.")
    return {n: w / total for n, w in clean.items()}


@dataclass(frozen=True, slots=True)
class ControlState:
    """One consistent view of the controls.

    ``weights`` maps look names to weights summing to 1 (one entry for a
    single look); ``strength`` is 0..1; ``version`` counts changes;
    ``t_changed`` is the ``perf_counter`` time of the last change; ``fade``
    says whether the last look change should cross-fade (preview keys,
    next/previous) or cut.
    """

    weights: tuple[tuple[str, float], ...]
    strength: float
    bypass: bool
    version: int
    t_changed: float
    fade: bool = False

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


class Controls:
    """Thread-safe live settings; see the module docstring.

    ``looks`` is the ordered list of installed look names (for next/previous).
    Setters validate and raise :class:`UsageError` with one sentence; they
    return the new :class:`ControlState`.  :meth:`wait_change` lets a reader
    (the server-sent-events stream) sleep until something changes.
    """

    def __init__(self, looks: Sequence[str], *, weights: Mapping[str, float], strength: float = 1.0,
                 bypass: bool = False):
        self.looks = tuple(looks)
        self._cond = threading.Condition()
        self._quit = False
        self._state = ControlState(tuple(normalise_weights(weights, self.looks).items()),
                                   self._check_strength(strength), bool(bypass), 0, time.perf_counter())

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
    @staticmethod
    def _check_strength(value) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"Strength {value!r} is not a number.", fix="Use a value in 0..1, such as 0.8.") from None
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise UsageError(f"Strength {value} is outside 0..1.", fix="Use a value in 0..1, such as 0.8.")
        return v

    def _replace(self, **changes) -> ControlState:
        with self._cond:
            s = self._state
            fields = {"weights": s.weights, "strength": s.strength, "bypass": s.bypass, "fade": s.fade}
            fields.update(changes)
            self._state = ControlState(version=s.version + 1, t_changed=time.perf_counter(), **fields)
            self._cond.notify_all()
            return self._state

    def set_weights(self, weights: Mapping[str, float], *, fade: bool = False) -> ControlState:
        """Show ``weights`` (look name -> weight, normalised to sum 1)."""
        w = normalise_weights(weights, self.looks)
        return self._replace(weights=tuple(w.items()), fade=fade)

    def set_look(self, name: str, *, fade: bool = False) -> ControlState:
        return self.set_weights({name: 1.0}, fade=fade)

    def step_look(self, delta: int, *, fade: bool = True) -> ControlState:
        """Next (+1) or previous (-1) installed look after the dominant one, wrapping around."""
        if not self.looks:
            return self._state
        cur = self._state.look
        i = self.looks.index(cur) if cur in self.looks else -1
        return self.set_look(self.looks[(i + delta) % len(self.looks)], fade=fade)

    def set_strength(self, value) -> ControlState:
        return self._replace(strength=self._check_strength(value))

    def nudge_strength(self, delta: float) -> ControlState:
        with self._cond:
            v = min(1.0, max(0.0, round(self._state.strength + delta, 2)))
        return self._replace(strength=v)

    def set_bypass(self, on: bool) -> ControlState:
        if not isinstance(on, bool):
            raise UsageError(f"Bypass must be true or false, got {on!r}.", fix='Send {"on": true} or {"on": false}.')
        return self._replace(bypass=on)

    def toggle_bypass(self) -> ControlState:
        return self._replace(bypass=not self._state.bypass)

    def request_quit(self) -> None:
        with self._cond:
            self._quit = True
            self._cond.notify_all()
