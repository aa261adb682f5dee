"""Preview keys -> controls: the one place the runtime acts on a sink's key commands.

The preview sink turns key presses into commands (``kind`` and ``value``:
``strength`` +/-0.1, ``bypass``, ``style`` n, ``quit``); :func:`apply_keys`
applies them to :class:`~livestyle.controls.Controls`.  The output thread
calls it after every frame it sends (and while a live source stalls).
"""

from __future__ import annotations

from collections.abc import Iterable

from livestyle.controls import Controls

__all__ = ["apply_keys"]


def apply_keys(controls: Controls, commands: Iterable) -> None:
    """Act on each command from ``sink.poll()``; an unknown kind or look number is ignored."""
    c = controls
    for cmd in commands:
        if cmd.kind == "strength":
            c.nudge_strength(cmd.value)
        elif cmd.kind == "bypass":
            c.toggle_bypass()
        elif cmd.kind == "style":
            i = int(cmd.value)
            if 0 <= i < len(c.looks):
                c.set_look(c.looks[i], fade=True)
        elif cmd.kind == "quit":
            c.request_quit()
