"""Look switching for the look stage: follow the controls once the looks are loaded, cross-fading if asked.

A look that is still loading leaves the current one on screen (``loading``
says which); one that failed to load leaves it too (``look_error`` says
why).  Preview keys and next/previous ask for a fade of :data:`FADE_S`.
"""

from __future__ import annotations

from livestyle.controls import ControlState, format_weights

FADE_S = 0.15  # cross-fade between looks on preview keys / next-previous (about 5 frames at 30 fps)

__all__ = ["FADE_S", "LookSwitcher", "blend_weights"]


def blend_weights(a: dict[str, float], b: dict[str, float], t: float) -> dict[str, float]:
    """``(1 - t) * a + t * b`` over the looks of both, zeros left out; ``t`` in 0..1."""
    keys = set(a) | set(b)
    return {k: (1 - t) * a.get(k, 0.0) + t * b.get(k, 0.0) for k in keys if (1 - t) * a.get(k, 0.0) + t * b.get(k, 0.0) > 0}


class LookSwitcher:
    """The inference thread's view of what is on screen and what it is fading from.

    ``weights`` are the looks on screen (``on_screen`` their label),
    ``loading`` the label of looks still loading, ``look_error`` why the
    wanted looks could not be loaded; ``changes`` counts changes to those
    three (the status line rebuilds at once when it moves).
    """

    def __init__(self, bank, state: ControlState, *, live: bool):
        self.bank, self.live = bank, live
        self.weights: dict[str, float] = state.weight_map
        self.fade_from: dict[str, float] | None = None
        self.t_fade = 0.0
        self.version = state.version
        self.wanted: dict[str, float] = {}
        self.on_screen = format_weights(self.weights)
        self.look_error: str | None = None
        self.loading: str | None = None
        self.changes = 0

    def target(self, state: ControlState, now: float) -> tuple[dict[str, float], bool]:
        """(the weights to style this frame with, whether the looks were just cut to without a fade)."""
        bank, cut = self.bank, False
        if state.version != self.version:
            self.version = state.version
            wanted = state.weight_map
            if wanted != self.wanted:
                self.wanted = wanted
                bank.forget_failure(wanted)
        wanted = self.wanted or self.weights
        if wanted != self.weights:
            before = (self.on_screen, self.loading, self.look_error)
            status = bank.request(wanted)
            if status == "ready":
                if state.fade and self.live:
                    self.fade_from, self.t_fade = dict(self.weights), now
                else:
                    self.fade_from = None
                self.weights = dict(wanted)
                self.on_screen = format_weights(self.weights)
                self.look_error = self.loading = None
                cut = self.fade_from is None
            elif status == "loading":
                self.loading = format_weights(wanted)
            else:
                self.loading = None
                self.look_error = bank.error(wanted)
            if (self.on_screen, self.loading, self.look_error) != before:
                self.changes += 1
        if self.fade_from is not None:
            t = (now - self.t_fade) / FADE_S
            if t < 1.0:
                return blend_weights(self.fade_from, self.weights, t), cut
            self.fade_from = None
        return self.weights, cut

    def label(self, weights: dict[str, float]) -> str:
        """The label of ``weights`` as returned by :meth:`target` (cheap when they are the on-screen ones)."""
        return self.on_screen if weights is self.weights else format_weights(weights)
