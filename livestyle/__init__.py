"""livestyle: a real-time style filter for live video.

The runtime path (``livestyle run``) needs only numpy, OpenCV, ONNX Runtime and
pyvirtualcam; importing :mod:`livestyle` or any runtime module never imports
torch or tensorrt (those are loaded lazily by the backends that need them).
"""

__version__ = "0.1.0"
