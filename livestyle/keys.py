"""Preview keys -> controls: the output thread hands the sink's commands to :meth:`Controls.apply`.

The preview sink turns key presses into commands of the one vocabulary
(:data:`livestyle.controls.COMMANDS`: ``style-number``, ``strength-up``,
``strength-down``, ``bypass-toggle``, ``quit``); :func:`apply_keys` passes
them on.  A key the vocabulary refuses (a look number beyond the installed
looks) changes nothing and is logged at debug level.  The output thread calls
it after every frame it sends (and while a live source stalls).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from livestyle.controls import CommandError, Controls

log = logging.getLogger(__name__)

__all__ = ["apply_keys"]


def apply_keys(controls: Controls, commands: Iterable) -> None:
    """Apply each command from ``sink.poll()``; a refused one is ignored."""
    for cmd in commands:
        try:
            controls.apply(cmd)
        except CommandError as e:
            log.debug("preview key ignored: %s", e)
