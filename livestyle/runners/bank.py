"""The runner bank: every loaded look, and one styled frame from a set of look weights.

A look lives in a model file: a single-look pack's ``student.onnx``, or a
multi-look *engine* that takes a weight vector (``Runner.n_looks`` = K).  The
bank keeps one activated runner per model file, loads missing ones on a
background thread (the inference thread never waits for a load), and turns
``{"pastel": 0.7, "mono": 0.3}`` into one frame:

* looks in the same engine: one inference with the weight vector (for the
  colour-LUT part a blend of looks *is* the blend of their outputs);
* looks in different files: one inference per file, outputs mixed by weight.

A load that fails is remembered with its one-line reason and not retried
until asked again; what is on screen stays as it was.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from livestyle.errors import LivestyleError
from livestyle.runners.base import Runner

log = logging.getLogger(__name__)


def _model_key(pack, engines: bool = True) -> str:
    """Which runner serves ``pack``: its model file, or (``engines=False``) its own look within that file."""
    try:
        key = str(Path(pack.onnx).resolve())
    except OSError:  # pragma: no cover
        key = str(pack.onnx)
    if not engines and getattr(pack, "look_index", None) is not None:
        key += f"#{pack.name}"
    return key


class RunnerBank:
    """Activated runners keyed by model file; see the module docstring.

    ``packs`` maps every selectable look name to its StylePack; ``make_runner``
    builds and activates a runner for a pack (on the backend and inference
    size the run picked); ``expand(name)`` resolves a saved mix into base-look
    weights (default: the look itself).  ``engines=False`` is for backends
    whose runners hold one look (the torch runner builds the look's own
    network): each look of an engine then gets a runner of its own.
    """

    def __init__(self, packs: Mapping[str, object], make_runner: Callable[[object], Runner], *,
                 expand: Callable[[str], Mapping[str, float]] | None = None, engines: bool = True):
        self.packs = dict(packs)
        self.make_runner = make_runner
        self._expand = expand
        self.engines = engines
        self._keys: dict[str, str] = {}  # look name -> runner key (the packs are fixed for a run)
        self._expanded: dict[str, dict[str, float]] = {}  # look name -> base looks (mixes are few and fixed)
        self._runners: dict[str, Runner] = {}
        self._loading: set[str] = set()
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        # sizes the adaptive controller may switch to: every runner runs each once before it is used, so
        # ONNX Runtime allocates its buffers for them at start (~20 MB once), not in the middle of a stream
        self.warm_sizes: list[tuple[int, int]] = []

    # -- bookkeeping ----------------------------------------------------------------------
    def warm(self, runner: Runner) -> Runner:
        """Run ``runner`` once at every size in :attr:`warm_sizes` (not yet shared: no other thread uses it)."""
        if not self.warm_sizes or not getattr(runner, "resizable", False):
            return runner
        size = runner.infer_size
        weights = None if runner.n_looks is None else np.full(runner.n_looks, 1.0 / runner.n_looks, np.float32)
        for w, h in self.warm_sizes:
            runner.set_infer_size((w, h))
            runner.infer(np.zeros((h, w, 3), np.uint8), weights)
        runner.set_infer_size(size)
        runner.reset_state()  # the black warm-up frames must not steer the first real frame's grade
        return runner

    def warm_at(self, sizes) -> None:
        """From now on warm every runner at ``sizes`` (the adaptive controller's levels); the ones held already too.

        Call before the runners are shared with other threads (before :meth:`load` and :meth:`preload`).
        """
        self.warm_sizes = list(sizes)
        for runner in self.runners:
            self.warm(runner)

    def add(self, pack, runner: Runner) -> None:
        """Register an already activated runner (the first one, built while picking the backend)."""
        self.warm(runner)
        with self._lock:
            self._runners[self._key(pack)] = runner

    @property
    def runners(self) -> list[Runner]:
        with self._lock:
            return list(self._runners.values())

    def base_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Saved mixes expanded into the looks stored in model files; sums are kept."""
        out: dict[str, float] = {}
        for name, w in weights.items():
            parts = self._expanded.get(name)
            if parts is None:
                parts = dict(self._expand(name)) if self._expand is not None else {name: 1.0}
                self._expanded[name] = parts
            for base, bw in parts.items():
                out[base] = out.get(base, 0.0) + w * bw
        return out

    def pointwise(self, weights: Mapping[str, float]) -> bool:
        """True when every look with a weight above 0 (mixes expanded) is a colour look (``StylePack.pointwise``)."""
        for name, w in self.base_weights(weights).items():
            if w > 0 and not getattr(self.packs.get(name), "pointwise", False):
                return False
        return True

    def _groups(self, weights: Mapping[str, float]) -> dict[str, list[tuple[object, float]]]:
        groups: dict[str, list[tuple[object, float]]] = {}
        for name, w in self.base_weights(weights).items():
            pack = self.packs.get(name)
            if pack is None:
                raise LivestyleError(f"Unknown look {name!r}.", fix="Pick an installed look (`livestyle styles`).")
            groups.setdefault(self._key(pack), []).append((pack, w))
        return groups

    def _key(self, pack) -> str:
        """The runner key of ``pack``, resolved once per look (a path resolve is syscalls: not per frame)."""
        name = getattr(pack, "name", None)
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = _model_key(pack, self.engines)
        return key

    # -- loading --------------------------------------------------------------------------
    def request(self, weights: Mapping[str, float]) -> str:
        """Make sure every model the weights need is loaded or loading.

        Returns ``"ready"``, ``"loading"`` or ``"failed"`` (then :meth:`error` says why).
        """
        try:
            groups = self._groups(weights)
        except LivestyleError as e:
            with self._lock:
                self._failed["?"] = str(e)
            return "failed"
        state = "ready"
        for key, members in groups.items():
            with self._lock:
                if key in self._runners:
                    continue
                if key in self._failed:
                    return "failed"
                state = "loading"
                if key in self._loading:
                    continue
                self._loading.add(key)
            self._start(threading.Thread(target=self._load, args=(key, members[0][0]), name="look-loader",
                                         daemon=True))
        return state

    def _start(self, t: threading.Thread) -> None:
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def load(self, weights: Mapping[str, float]) -> None:
        """Load every model ``weights`` needs now, on this thread; raises the loader's LivestyleError."""
        for key, members in self._groups(weights).items():
            with self._lock:
                if key in self._runners:
                    continue
            runner = self.warm(self.make_runner(members[0][0]))
            with self._lock:
                self._runners[key] = runner

    def preload(self, names) -> threading.Thread:
        """Load the models of ``names`` one after another on one background thread (switches are then instant)."""
        def work():
            for name in names:
                if self._closing.is_set():
                    return
                try:
                    groups = self._groups({name: 1.0})
                except LivestyleError:
                    continue
                for key, members in groups.items():
                    with self._lock:
                        if key in self._runners or key in self._loading or key in self._failed:
                            continue
                        self._loading.add(key)
                    self._load(key, members[0][0])
        t = threading.Thread(target=work, name="look-preloader", daemon=True)
        self._start(t)
        return t

    def _load(self, key: str, pack) -> None:
        try:
            runner = self.warm(self.make_runner(pack))
        except Exception as e:  # a loader thread must never die silently: every failure is reported
            why = str(e) if isinstance(e, LivestyleError) else f"{type(e).__name__}: {e}"
            msg = f"cannot load look {getattr(pack, 'name', '?')!r}: {why}"
            log.warning("%s", msg)
            with self._lock:
                self._failed[key] = msg
                self._loading.discard(key)
            return
        with self._lock:
            self._loading.discard(key)
            if self._closing.is_set():
                runner.deactivate()
                return
            self._runners[key] = runner

    def error(self, weights: Mapping[str, float]) -> str | None:
        """Why ``weights`` cannot be shown (a load failed), else None."""
        try:
            groups = self._groups(weights)
        except LivestyleError as e:
            return str(e)
        with self._lock:
            for key in groups:
                if key in self._failed:
                    return self._failed[key]
        return None

    def forget_failure(self, weights: Mapping[str, float]) -> None:
        """Allow a failed look to be tried again (a new request from the user)."""
        try:
            groups = self._groups(weights)
        except LivestyleError:
            return
        with self._lock:
            for key in groups:
                self._failed.pop(key, None)

    # -- inference ------------------------------------------------------------------------
    def infer(self, image: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
        """One styled frame for ``weights`` (all models loaded): uint8 BGR (h, w, 3), a new array."""
        groups = self._groups(weights)
        outs: list[tuple[np.ndarray, float]] = []
        for key, members in groups.items():
            runner = self._runners[key]
            total = sum(w for _, w in members)
            if runner.n_looks is not None and self.engines:
                vec = np.zeros(runner.n_looks, np.float32)
                for pack, w in members:
                    idx = getattr(pack, "look_index", None)
                    vec[0 if idx is None else int(idx)] += w / total
                out = runner.infer(image, vec)
            else:
                out = runner.infer(image)
            if len(groups) == 1:
                return out.copy()  # the runner reuses its buffer
            outs.append((out.astype(np.float32), total))
        total = sum(w for _, w in outs)
        acc = sum(o * (w / total) for o, w in outs)
        return np.clip(acc + 0.5, 0, 255).astype(np.uint8)

    @property
    def resizable(self) -> bool:
        """Whether every loaded runner can change its inference size cheaply (adaptive quality)."""
        return all(getattr(r, "resizable", False) for r in self.runners)

    def set_infer_size(self, size: tuple[int, int]) -> bool:
        """Move every loaded runner to a new inference size; False when one cannot (then none moved)."""
        with self._lock:
            runners = list(self._runners.values())
        if not all(getattr(r, "resizable", False) for r in runners):
            return False
        for r in runners:
            r.set_infer_size(size)
        return True

    def close(self) -> None:
        """Wait for loads in flight (a model being built must not be torn down mid-way), then release all."""
        self._closing.set()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=60)
        with self._lock:
            runners, self._runners = list(self._runners.values()), {}
        for r in runners:
            r.deactivate()
