"""TensorRT engines for the TensorRT runner: the on-disk cache and the build it runs when an engine is missing.

:mod:`.cache` (keys, manifests, verification, ``ensure_engine_entry``),
:mod:`.build` (the real builder, on TensorRT), :mod:`.onnx_rewrite` (FP16,
casts next to the uint8 I/O), :mod:`.target` and :mod:`.files` (what they
share).  They live beside the runner because a run builds a missing engine;
``livestyle build-engine`` (:mod:`livestyle.export.cli`) and ``livestyle
doctor`` use them from above.  Nothing here imports tensorrt, torch or onnx at
import time.
"""
