"""``livestyle obs setup | check | script``.

Registration imports nothing heavy; each handler imports what it needs.
Failures are :class:`~livestyle.errors.LivestyleError` (one line, non-zero exit).
"""

from __future__ import annotations

import argparse
import json


def _add_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--obs", default=None, metavar="URL",
                   help="OBS's websocket (default ws://127.0.0.1:4455; OBS: Tools -> WebSocket Server Settings)")
    p.add_argument("--obs-password", default=None,
                   help="obs-websocket password (default: $LIVESTYLE_OBS_PASSWORD)")
    p.add_argument("--name", default="livestyle", help="name of the OBS input (default livestyle)")


def add_parsers(sub) -> None:
    """Add ``obs`` with its ``setup``, ``check`` and ``script`` subcommands."""
    p = sub.add_parser("obs", help="put livestyle into OBS Studio (setup, check, the hotkey script)",
                       description="Work with a running OBS Studio over obs-websocket 5 (OBS 28 or later).")
    osub = p.add_subparsers(dest="obs_command", metavar="SUBCOMMAND")
    osub.required = True

    s = osub.add_parser("setup", help="create/update an input in the current scene showing livestyle; check frames",
                        description="Create (or update) an input in OBS's current scene that shows livestyle: a "
                                    "Media Source on the network output (--url, or the one a running livestyle "
                                    "serves), or a Video Capture Device on a v4l2loopback device (--device, or "
                                    "found automatically). Then check with screenshots that frames arrive.")
    _add_connection(s)
    src = s.add_mutually_exclusive_group()
    src.add_argument("--url", default=None,
                     help="livestyle's network output URL as printed at start, e.g. "
                          "http://127.0.0.1:8080/livestyle?token=... (default: the one a running livestyle serves)")
    src.add_argument("--device", default=None, help="v4l2 device of livestyle's virtual camera, e.g. /dev/video10")
    s.add_argument("--scene", default=None, help="scene to add the input to (default: the current one)")
    s.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for frames (default 10)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=run_setup)

    c = osub.add_parser("check", help="does OBS receive livestyle's frames, and with what lag (in frames)?",
                        description="Screenshot the OBS input a few times; for the network output, also watch the "
                                    "stream and match each screenshot to the frame it shows to measure the lag.")
    _add_connection(c)
    c.add_argument("--seconds", type=float, default=3.0, help="how long to measure (default 3)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=run_check)

    t = osub.add_parser("script", help="print the path of the OBS script (Tools -> Scripts -> +)",
                        description="Print the path of livestyle's OBS script. Load it in OBS with Tools -> "
                                    "Scripts -> + to get hotkeys for the next/previous look, bypass and strength.")
    t.set_defaults(func=run_script)


def run_script(args) -> int:
    from livestyle.obs import SCRIPT_PATH

    print(SCRIPT_PATH)
    return 0


def run_setup(args) -> int:
    from livestyle.obs.client import ObsClient
    from livestyle.obs.setup import setup, stream_url_for_obs

    if args.url is not None:
        stream_url_for_obs(args.url)  # a malformed --url is one line before anything talks to OBS
    with ObsClient(args.obs, args.obs_password) as client:
        result = setup(client, name=args.name, url=args.url, device=args.device, scene=args.scene,
                       timeout=args.timeout)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['action']} {result['kind']} {result['input']!r} in scene {result['scene']!r} "
              f"({result['source']})")
        if result["moving"]:
            print(f"frames arrive: yes (moving picture after {result['seconds']} s)")
        elif result["receiving"]:
            print("frames arrive: a still picture only (is livestyle's output moving?)")
        else:
            print(f"frames arrive: no picture after {result['seconds']} s; is livestyle running with that output?")
    return 0 if result["receiving"] else 1


def run_check(args) -> int:
    from livestyle.obs.client import ObsClient
    from livestyle.obs.setup import check

    with ObsClient(args.obs, args.obs_password) as client:
        result = check(client, name=args.name, seconds=args.seconds)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        line = f"OBS input {result['input']!r} ({result['kind']}): receiving frames: {'yes' if result['receiving'] else 'no'}"
        if result["lag_frames"] is not None:
            line += f"; lag {result['lag_frames']:g} frames (max {result['lag_frames_max']}, {result['lag_samples']} samples)"
        print(line + (f"; {result['note']}" if result["note"] else ""))
    return 0 if result["receiving"] else 1
