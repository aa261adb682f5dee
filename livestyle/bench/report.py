"""What ``livestyle bench`` writes: per-frame CSV, two PNG figures, a one-page summary, JSON.

Everything here is pure: it takes :class:`~livestyle.stats.FrameRecord` lists
and the run report and writes files into a folder the caller made (the
command writes into a temporary folder that becomes ``--out`` atomically).
matplotlib is imported only here, with the Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import html
import io
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

from livestyle.stats import FrameRecord

# Columns around the stage columns; the stage columns (``<name>_ms``) come from the run's stage list,
# as each FrameRecord carries it (capture, each stage's parts, output).
HEAD_COLUMNS = ("index", "t_capture_s", "t_send_s", "latency_ms")
TAIL_COLUMNS = ("look", "strength", "bypass", "infer_w", "infer_h", "dropped", "cpu_ms")
THREAD_END_COLOURS = {"capture": "#7f7f7f", "output": "#17becf"}
STAGE_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#ccb974")


def stage_names(records: list[FrameRecord]) -> tuple[str, ...]:
    """The timed names of a run in its order (every record's ``stages`` keys, first seen first)."""
    seen: dict[str, None] = {}
    for r in records:
        for name in r.stages:
            seen.setdefault(name, None)
    return tuple(seen)


def csv_columns(names) -> tuple[str, ...]:
    """The columns of ``frames.csv`` for a run whose timed names are ``names``."""
    return (*HEAD_COLUMNS, *(f"{s}_ms" for s in names), *TAIL_COLUMNS)


def stage_colours(names) -> list[str]:
    """One colour per timed name: the thread ends fixed, the stages between from a palette in list order."""
    middle = iter(STAGE_PALETTE * (1 + len(names) // len(STAGE_PALETTE)))
    return [THREAD_END_COLOURS.get(n) or next(middle) for n in names]


def stages_in(cols: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The timed names of a :func:`frames_table`, in order (its ``<name>_ms`` columns other than latency, CPU)."""
    return tuple(k[:-3] for k in cols if k.endswith("_ms") and k not in ("latency_ms", "cpu_ms"))


def frames_table(records: list[FrameRecord], t0: float) -> dict[str, np.ndarray]:
    """Column arrays of ``records``: times in seconds after ``t0`` (perf_counter), durations in ms."""
    n = len(records)
    cols: dict[str, np.ndarray] = {
        "index": np.array([r.index for r in records], np.int64),
        "t_capture_s": np.array([r.t_capture - t0 for r in records], np.float64),
        "t_send_s": np.array([r.t_send - t0 for r in records], np.float64),
        "latency_ms": np.array([(r.t_send - r.t_capture) * 1000.0 for r in records], np.float64),
        "dropped": np.array([r.dropped for r in records], np.int64),
        "cpu_ms": np.array([r.cpu_s * 1000.0 for r in records], np.float64),
        "infer_w": np.array([r.infer_size[0] for r in records], np.int64),
        "infer_h": np.array([r.infer_size[1] for r in records], np.int64),
    }
    for s in stage_names(records):
        cols[f"{s}_ms"] = np.array([r.stages.get(s, 0.0) * 1000.0 for r in records], np.float64)
    assert all(len(v) == n for v in cols.values())
    return cols


def write_frames_csv(path: Path, records: list[FrameRecord], t0: float) -> None:
    """One row per sent frame, columns :func:`csv_columns` of the run's stages; times relative to ``t0``."""
    names = stage_names(records)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(csv_columns(names))
        for r in records:
            w.writerow([r.index, f"{r.t_capture - t0:.6f}", f"{r.t_send - t0:.6f}",
                        f"{(r.t_send - r.t_capture) * 1000.0:.3f}",
                        *(f"{r.stages.get(s, 0.0) * 1000.0:.3f}" for s in names),
                        r.look, f"{r.strength:.3f}", int(r.bypass), r.infer_size[0], r.infer_size[1], r.dropped,
                        f"{r.cpu_s * 1000.0:.3f}"])


def per_second(cols: dict[str, np.ndarray], duration_s: float) -> dict[str, np.ndarray]:
    """Per 1-s bins of send time: ``t`` (bin start), ``fps`` out, ``drops`` (new drops), ``cpu_pct`` (% of one core).

    Only whole seconds are binned (a last partial second would read as a fall in fps and CPU).
    """
    bins = max(1, int(math.floor(duration_s)))
    t = cols["t_send_s"]
    edges = np.arange(bins + 1, dtype=np.float64)
    which = np.floor(t).astype(np.int64) if len(t) else np.zeros(0, np.int64)
    keep = (which >= 0) & (which < bins)  # each bin is [k, k + 1)
    counts = np.bincount(which[keep], minlength=bins)[:bins]
    cpu = np.bincount(which[keep], weights=cols["cpu_ms"][keep], minlength=bins)[:bins]
    drops = np.zeros(bins)
    last = np.zeros(bins)
    seen = np.zeros(bins, bool)
    for b, d in zip(which[keep], cols["dropped"][keep]):
        last[b], seen[b] = d, True
    running = 0.0
    for b in range(bins):
        if seen[b]:
            drops[b] = last[b] - running
            running = last[b]
    return {"t": edges[:-1], "fps": counts.astype(np.float64), "drops": drops, "cpu_pct": cpu / 10.0}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_latency_histogram(path: Path, cols: dict[str, np.ndarray], title: str) -> None:
    """Histogram of capture->send latency (ms) with p50/p95/p99 marked; PNG at ``path``."""
    plt = _plt()
    lat = cols["latency_ms"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    if len(lat):
        hi = float(np.percentile(lat, 99.5)) * 1.15 + 1
        ax.hist(np.clip(lat, 0, hi), bins=min(120, max(10, len(lat) // 10)), range=(0, hi), color="#4c72b0")
        for p, color in ((50, "#2ca02c"), (95, "#ff7f0e"), (99, "#d62728")):
            v = float(np.percentile(lat, p))
            ax.axvline(v, color=color, linestyle="--", linewidth=1.2, label=f"p{p} {v:.1f} ms")
        ax.legend()
    ax.set_xlabel("capture → send latency (ms)")
    ax.set_ylabel("frames")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_timeline(path: Path, cols: dict[str, np.ndarray], quality: dict, duration_s: float, title: str) -> None:
    """Four panels over run time: per-frame stage stack + latency, fps/drops, CPU, inference size + controller steps."""
    plt = _plt()
    sec = per_second(cols, duration_s)
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), dpi=100, sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.3, 1.1, 1.1]})
    t = cols["t_send_s"]
    ax = axes[0]
    if len(t):
        names = stages_in(cols)
        stacks = [cols[f"{s}_ms"] for s in names]
        ax.stackplot(t, *stacks, labels=list(names), colors=stage_colours(names), linewidth=0, alpha=0.85)
        ax.plot(t, cols["latency_ms"], color="black", linewidth=0.6, label="capture→send")
        ax.legend(loc="upper right", fontsize=7, ncol=3)
    ax.set_ylabel("ms per frame")
    ax.set_title(title, fontsize=10)
    ax = axes[1]
    ax.step(sec["t"], sec["fps"], where="post", color="#1f77b4", label="fps out")
    ax.set_ylabel("fps")
    ax2 = ax.twinx()
    ax2.bar(sec["t"] + 0.5, sec["drops"], width=0.8, color="#d62728", alpha=0.5, label="drops")
    ax2.set_ylabel("drops / s", color="#d62728")
    ax.legend(loc="lower left", fontsize=7)
    ax = axes[2]
    ax.step(sec["t"], sec["cpu_pct"], where="post", color="#9467bd")
    ax.set_ylabel("CPU % (1 core)")
    ax = axes[3]
    if len(t):
        ax.step(t, cols["infer_w"], where="post", color="#8c564b", label="inference width")
    for change in (quality or {}).get("changes", []) or []:
        ax.axvline(float(change.get("t_s", 0.0)), color="#ff7f0e", linestyle=":", linewidth=1)
    ax.set_ylabel("infer width (px)")
    ax.set_xlabel("seconds since start")
    mode = (quality or {}).get("mode", "unknown")
    ax.set_title(f"quality {mode}: {len((quality or {}).get('changes', []) or [])} change(s) (dotted)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux) or platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """Versions of python, numpy, opencv, onnxruntime and livestyle (``"not installed"`` when missing)."""
    out = {"python": platform.python_version()}
    for name, module in (("numpy", "numpy"), ("opencv", "cv2"), ("onnxruntime", "onnxruntime"),
                         ("livestyle", "livestyle")):
        try:
            mod = __import__(module)
            out[name] = str(getattr(mod, "__version__", "?"))
        except ImportError:
            out[name] = "not installed"
    return out


def machine() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        usable = os.cpu_count() or 0
    return {"host": platform.node(), "os": platform.platform(), "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(), "cpus_usable": usable, "python_executable": sys.executable}


def summarize(cols: dict[str, np.ndarray], report: dict, duration_s: float) -> dict:
    """The headline numbers of a bench run (what load_bench.py compares)."""
    lat = cols["latency_ms"]
    n = len(lat)

    def pct(a, p):
        return round(float(np.percentile(a, p)), 2) if len(a) else None

    span = float(cols["t_send_s"][-1] - cols["t_send_s"][0]) if n > 1 else 0.0
    return {
        "frames_out": n,
        "fps_out": round((n - 1) / span, 2) if span > 0 else 0.0,
        "fps_target": report.get("fps_target"),
        "duration_s": round(duration_s, 2),
        "dropped": int(report.get("dropped", cols["dropped"][-1] if n else 0)),
        "dropped_steady": report.get("dropped_steady"),
        "latency_ms": {"p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99), "max": pct(lat, 100)},
        "stages_ms": {s: {"p50": pct(cols[f"{s}_ms"], 50), "p95": pct(cols[f"{s}_ms"], 95)} for s in stages_in(cols)},
        "cpu_ms_per_frame": {"p50": pct(cols["cpu_ms"], 50), "mean": round(float(cols["cpu_ms"].mean()), 2) if n else None},
        "cpu_pct_of_one_core": round(float(cols["cpu_ms"].sum()) / 10.0 / max(1e-6, span), 1) if span > 0 else None,
        "infer_sizes": sorted({(int(w), int(h)) for w, h in zip(cols["infer_w"], cols["infer_h"])}),
        "quality": report.get("quality", {"mode": "unknown (this pipeline reports no quality section)", "changes": []}),
    }


def _fmt(v, unit=""):
    return "–" if v is None else f"{v}{unit}"


def summary_markdown(info: dict) -> str:
    """The one-page summary as Markdown; ``info`` has command, machine, versions, load, input, summary."""
    s, m, v = info["summary"], info["machine"], info["versions"]
    q = s["quality"] or {}
    lines = [
        "# livestyle bench", "",
        f"- **Command:** `{info['command']}`",
        f"- **When:** {info['started']} ({s['duration_s']} s measured)",
        f"- **Machine:** {m['host']}, {m['os']}",
        f"- **CPU:** {m['cpu_model']} ({m['cpus_usable']} usable of {m['cpu_count']})",
        "- **Versions:** " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- **Input:** {info['input']} → output {info['output']}; style {info['style']}; backend {info['backend']}",
        f"- **Competing load:** {info['load']}",
        f"- **Machine load average (1/5/15 min) before / after:** {info.get('loadavg_before')} / "
        f"{info.get('loadavg_after')} (the load average counts this benchmark and its load too; more than that was other work on the machine)",
        f"- **Quality:** {q.get('mode', 'unknown')}", "",
        "## Results", "",
        "| metric | value |", "|---|---|",
        f"| fps out / target | {s['fps_out']} / {_fmt(s['fps_target'])} |",
        f"| frames out | {s['frames_out']} |",
        f"| dropped (total / steady) | {s['dropped']} / {_fmt(s['dropped_steady'])} |",
        f"| capture→send p50 / p95 / p99 / max | {_fmt(s['latency_ms']['p50'])} / {_fmt(s['latency_ms']['p95'])} / "
        f"{_fmt(s['latency_ms']['p99'])} / {_fmt(s['latency_ms']['max'])} ms |",
        f"| process CPU per frame (p50 / mean) | {_fmt(s['cpu_ms_per_frame']['p50'])} / "
        f"{_fmt(s['cpu_ms_per_frame']['mean'])} ms |",
        f"| process CPU | {_fmt(s['cpu_pct_of_one_core'], ' % of one core')} |",
        f"| inference sizes used | {', '.join(f'{w}x{h}' for w, h in s['infer_sizes']) or '–'} |", "",
        "| stage | p50 ms | p95 ms |", "|---|---|---|",
        *(f"| {k} | {_fmt(val['p50'])} | {_fmt(val['p95'])} |" for k, val in s["stages_ms"].items()), "",
        "## Adaptive quality decisions", "",
    ]
    changes = q.get("changes") or []
    if changes:
        lines += ["| t (s) | from | to | reason |", "|---|---|---|---|"]
        lines += [f"| {c.get('t_s')} | {'x'.join(map(str, c.get('from', [])))} | {'x'.join(map(str, c.get('to', [])))} "
                  f"| {c.get('reason', '')} |" for c in changes]
    else:
        lines.append("None (the inference size never changed).")
    lines += ["", "## Figures", "", "![latency histogram](latency_hist.png)", "",
              "![per-frame timeline](timeline.png)", "",
              "Files: `frames.csv` (one row per sent frame), `report.json` (the pipeline's report), "
              "`bench.json` (these numbers).", ""]
    return "\n".join(lines)


def summary_html(markdown_text: str) -> str:
    """A self-contained HTML page of the summary (Markdown tables/lists rendered by hand; images by relative path)."""
    out = io.StringIO()
    out.write("<!doctype html><meta charset='utf-8'><title>livestyle bench</title>"
              "<style>body{font-family:sans-serif;max-width:70em;margin:1em auto}table{border-collapse:collapse}"
              "td,th{border:1px solid #ccc;padding:2px 8px}img{max-width:100%}</style>\n")
    in_table = in_list = False
    for line in markdown_text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                out.write("<table>")
                in_table = True
            out.write("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>\n")
            continue
        if in_table:
            out.write("</table>\n")
            in_table = False
        if line.startswith("- "):
            if not in_list:
                out.write("<ul>")
                in_list = True
            text = html.escape(line[2:]).replace("**", "")
            out.write(f"<li>{text}</li>\n")
            continue
        if in_list:
            out.write("</ul>\n")
            in_list = False
        if line.startswith("# "):
            out.write(f"<h1>{html.escape(line[2:])}</h1>\n")
        elif line.startswith("## "):
            out.write(f"<h2>{html.escape(line[3:])}</h2>\n")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            out.write(f"<p><img alt='{html.escape(alt)}' src='{html.escape(src.rstrip(')'))}'></p>\n")
        elif line.strip():
            out.write(f"<p>{html.escape(line)}</p>\n")
    if in_table:
        out.write("</table>\n")
    if in_list:
        out.write("</ul>\n")
    return out.getvalue()
