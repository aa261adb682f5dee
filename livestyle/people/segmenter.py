"""Person segmentation with MediaPipe's selfie segmentation models, run by LiteRT (``ai-edge-litert``).

The models take an RGB float32 image in 0..1 at their own small size (256x144 for the landscape model,
256x256 for the square one) and return the probability that each pixel belongs to a person.  The
selfie models use a custom transposed-convolution op that LiteRT's XNNPACK delegate provides (on by
default in ``ai-edge-litert``).  Measured here with one thread (AMD EPYC): 1.8 ms for the landscape model
and 3.4 ms for the square one; see benchmarks/RESULTS.md.
"""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from livestyle.people.models import BY_NAME, open_interpreter

log = logging.getLogger(__name__)


def choose_model(frame_size: tuple[int, int]) -> str:
    """``selfie_landscape`` for frames wider than 4:3, else ``selfie_square``; ``frame_size`` is (width, height)."""
    w, h = frame_size
    return "selfie_landscape" if w >= 1.4 * h else "selfie_square"


class PersonSegmenter:
    """The raw person probability of a frame, at the model's own size.

    ``segment(frame)`` takes a uint8 BGR frame (H, W, 3) of any size and returns float32 (h, w) in 0..1
    (1 = person) at the model's input size (``size``: (w, h)).  ``last_ms`` is the last call's time.
    Raises :class:`~livestyle.people.models.ModelMissing` at construction when the file is missing or
    corrupt.
    """

    def __init__(self, model: str = "selfie_landscape", *, threads: int = 1):
        self.model = BY_NAME[model]
        self.size = self.model.input_size
        self._it = open_interpreter(model, threads=threads)
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self._buf = np.empty((1, self.size[1], self.size[0], 3), np.float32)
        self.last_ms = 0.0

    def segment(self, frame: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        if (frame.shape[1], frame.shape[0]) == tuple(self.size):
            small = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        else:
            small = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
            cv2.cvtColor(small, cv2.COLOR_BGR2RGB, dst=small)
        np.multiply(small, np.float32(1.0 / 255.0), out=self._buf[0], casting="unsafe")
        self._it.set_tensor(self._in, self._buf)
        self._it.invoke()
        mask = self._it.get_tensor(self._out)[0, :, :, 0].copy()
        np.clip(mask, 0.0, 1.0, out=mask)
        self.last_ms = (time.perf_counter() - t) * 1000.0
        return mask
