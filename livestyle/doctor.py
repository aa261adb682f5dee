"""``livestyle doctor``: what can run here, and why not.

:func:`backend_statuses` probes every backend (ONNX Runtime on the CPU,
torch on the CPU, torch on CUDA, TensorRT) and never raises; :func:`system_info`
gathers versions, CPU, GPU/driver, virtual-camera devices and the engine
cache; :func:`format_report` renders both as a compact table.  Nothing here
imports torch or tensorrt unless an NVIDIA driver is present (on Linux the
driver check reads /proc first) or the probe needs it.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict
from importlib import metadata

from livestyle.runners.base import BackendStatus

log = logging.getLogger(__name__)

_PACKAGES = ("numpy", "opencv-python", "onnxruntime", "pyvirtualcam", "torch", "onnx", "safetensors",
             "tensorrt", "tensorrt-cu12", "tensorrt-cu13")


def has_nvidia_driver() -> bool:
    """True when an NVIDIA kernel driver is loaded (the one probe in :mod:`livestyle.runners.base`)."""
    from livestyle.runners.base import nvidia_driver

    return nvidia_driver() is not None


def backend_statuses() -> list[BackendStatus]:
    """Every backend row's status, in this machine's order of preference (read from the backend table).

    With an NVIDIA driver: tensorrt, torch (cuda), onnxruntime (cpu), torch
    (cpu).  Without: onnxruntime (cpu), torch (cpu), then the GPU rows.
    The first available entry is what ``--backend auto`` takes.
    """
    from livestyle.runners.registry import ordered_rows

    return [row.probe() for row in ordered_rows()]


# --------------------------------------------------------------------------- system


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    from livestyle import __version__

    out["livestyle"] = __version__
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name in ("tensorrt-cu12", "tensorrt-cu13"):
                continue
            out[name] = "not installed"
    return out


def _cpu() -> dict:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    return {"model": model, "logical_cores": os.cpu_count() or 1, "usable_cores": usable}


def _gpu() -> dict:
    """GPU names and driver: from nvidia-smi when present, else the /proc driver line."""
    info: dict = {"driver": None, "gpus": [], "note": ""}
    from livestyle.runners.trt.build import read_driver_version as _read_driver_version

    info["driver"] = _read_driver_version()
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            res = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total,compute_cap",
                                  "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
            for line in res.stdout.strip().splitlines():
                parts = [p.strip() for p in line.split(",")]
                if len(parts) >= 2:
                    info["gpus"].append({"name": parts[0], "memory": parts[2] if len(parts) > 2 else "",
                                         "compute_capability": parts[3] if len(parts) > 3 else ""})
                    info["driver"] = info["driver"] or parts[1]
            if res.returncode != 0 and not info["gpus"]:
                info["note"] = (res.stderr or res.stdout).strip().splitlines()[0][:160] if (res.stderr or res.stdout) \
                    else f"nvidia-smi exited with {res.returncode}"
        except (OSError, subprocess.TimeoutExpired) as e:
            info["note"] = f"nvidia-smi failed ({e})"
    if not info["gpus"] and info["driver"] is None:
        info["note"] = info["note"] or "no NVIDIA driver (/proc/driver/nvidia/version missing)"
    return info


def _virtual_cameras() -> dict:
    """Video devices (Linux: /dev/video* with their names from sysfs) and whether v4l2loopback is loaded."""
    devices = []
    for dev in sorted(glob.glob("/dev/video*")):
        name = ""
        try:
            with open(f"/sys/class/video4linux/{os.path.basename(dev)}/name") as f:
                name = f.read().strip()
        except OSError:
            pass
        devices.append({"path": dev, "name": name})
    loopback = os.path.isdir("/sys/module/v4l2loopback")
    out = {"devices": devices, "v4l2loopback_loaded": loopback, "fix": ""}
    if sys.platform.startswith("linux") and not loopback:
        out["fix"] = ("sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livestyle "
                      "(package v4l2loopback-dkms)")
    elif sys.platform == "darwin" or sys.platform == "win32":
        out["fix"] = "install OBS Studio (its Virtual Camera is what pyvirtualcam uses)"
    return out


def _engines() -> dict:
    from livestyle.runners.trt.cache import EngineCache, default_engines_dir

    root = default_engines_dir()
    try:
        n = len(EngineCache(root).entries())
    except OSError:
        n = 0
    return {"dir": str(root), "exists": root.is_dir(), "engines": n}


def system_info() -> dict:
    """Versions, CPU, GPU/driver, virtual cameras and the engine cache, as plain JSON-able data."""
    return {"platform": f"{platform.system()} {platform.release()} {platform.machine()}",
            "versions": _versions(), "cpu": _cpu(), "gpu": _gpu(), "virtual_camera": _virtual_cameras(),
            "engine_cache": _engines()}


def report() -> dict:
    """Everything ``doctor --json`` prints."""
    statuses = backend_statuses()
    best = next((s for s in statuses if s.available), None)
    return {"backends": [asdict(s) for s in statuses],
            "auto": ({"name": best.name, "device": best.device} if best else None),
            "system": system_info()}


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest,
                                    break_on_hyphens=False)) or first


def format_report(data: dict, *, width: int = 100) -> str:
    """A compact, readable table of :func:`report`'s data."""
    lines = [f"livestyle {data['system']['versions'].get('livestyle', '?')} doctor", "",
             "Backends (in this machine's order of preference):"]
    rows = data["backends"]
    name_w = max(len(f"{b['name']} ({b['device']})") for b in rows) + 2
    for b in rows:
        label = f"{b['name']} ({b['device']})".ljust(name_w)
        mark = "yes" if b["available"] else "no "
        lead = f"  {label}{mark}  "
        pad = " " * len(lead)
        detail = b["reason"] or "available"
        lines.append(_wrap(detail, width, lead, pad))
        if not b["available"] and b["fix"]:
            lines.append(_wrap("fix: " + b["fix"], width, pad, pad + "     "))
    auto = data.get("auto")
    lines.append(f"  -> --backend auto uses: {auto['name']} ({auto['device']})" if auto
                 else "  -> no backend can run here")
    s = data["system"]
    cpu, gpu, cam, eng = s["cpu"], s["gpu"], s["virtual_camera"], s["engine_cache"]
    lines += ["", "System:"]
    lines.append(f"  platform        {s['platform']}, Python {s['versions']['python']}")
    lines.append(f"  cpu             {cpu['model']} ({cpu['usable_cores']} usable of {cpu['logical_cores']} cores)")
    if gpu["gpus"]:
        for g in gpu["gpus"]:
            extra = ", ".join(x for x in (g.get("memory"), f"sm {g['compute_capability']}"
                                          if g.get("compute_capability") else "") if x)
            lines.append(f"  gpu             {g['name']}" + (f" ({extra})" if extra else ""))
    else:
        lines.append(f"  gpu             none: {gpu['note'] or 'nvidia-smi lists none'}")
    lines.append(f"  nvidia driver   {gpu['driver'] or 'none'}")
    if cam["devices"]:
        devs = ", ".join(d["path"] + (f" ({d['name']})" if d["name"] else "") for d in cam["devices"])
        lines.append(f"  video devices   {devs}")
    else:
        lines.append("  video devices   none (/dev/video* absent)")
    loop = "loaded" if cam["v4l2loopback_loaded"] else "not loaded"
    lines.append(f"  v4l2loopback    {loop}" + (f"; fix: {cam['fix']}" if cam["fix"] else ""))
    lines.append(f"  engine cache    {eng['dir']} ({eng['engines']} engine(s)"
                 + ("" if eng["exists"] else ", not created yet") + ")")
    vers = ", ".join(f"{k} {v}" for k, v in s["versions"].items() if k not in ("python", "livestyle"))
    lines += ["", "Versions:"]
    lines.append(_wrap(vers, width, "  ", "  "))
    return "\n".join(lines)


def add_parsers(sub) -> None:
    """Add ``doctor`` to the ``livestyle`` parser; imports nothing heavy."""
    d = sub.add_parser("doctor", help="list every backend (available or not, with the reason and fix) and the system",
                       description="Probe ONNX Runtime, torch (CPU and CUDA) and TensorRT; print why each can or "
                                   "cannot run here and how to fix it, plus versions, CPU, GPU/driver, virtual "
                                   "camera devices and the engine cache.")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    import json

    data = report()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(format_report(data))
    return 0
