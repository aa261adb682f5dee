"""OBS Studio integration.

* :mod:`livestyle.obs.client`: a small obs-websocket v5 client on ``websockets`` (request/response only).
* :mod:`livestyle.obs.link`: :class:`ObsLink`, automatic lip-sync (the mic's audio sync offset follows livestyle's delay).
* :mod:`livestyle.obs.setup`: ``livestyle obs setup`` / ``check`` (create the input, measure that frames arrive).
* ``livestyle_obs.py``: the script users load in OBS's Tools -> Scripts (hotkeys that call the control API).

Nothing here imports OpenCV or numpy at module level except :mod:`livestyle.obs.setup`.
"""

from pathlib import Path

SCRIPT_PATH = Path(__file__).with_name("livestyle_obs.py")

__all__ = ["SCRIPT_PATH"]
