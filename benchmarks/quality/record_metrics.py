"""Copy a style's measured quality into its pack, so `livestyle styles --json` shows it.

    .venv/bin/python benchmarks/quality/record_metrics.py PACK_DIR EVAL_REPORT.json

Adds ``metrics.quality`` to the pack's style.json: PSNR/SSIM of input,
teacher and student against the true look on the held-out images, the
student's gain over the input and its gap to the teacher, the mean
warping-error ratios on the moving clips (with and without the runtime
temporal filter), and the student's multiply-accumulates at 256x256
(counted by benchmarks/macs.py).  Written atomically.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/macs.py

from macs import count_macs  # noqa: E402

from livestyle.models.student import Student, StudentConfig  # noqa: E402


def main(pack: str, report: str) -> None:
    pack_dir = Path(pack)
    meta_path = pack_dir / "style.json"
    meta = json.loads(meta_path.read_text())
    rep = json.loads(Path(report).read_text())
    img, temporal = rep["images"], rep["temporal"]
    macs = count_macs(Student(StudentConfig.from_dict(meta.get("student", {}))), (256, 256))
    quality = {
        "test_images": rep["test_images"],
        "psnr_db": {k: round(v["psnr"], 2) for k, v in img.items() if v},
        "ssim": {k: round(v["ssim"], 4) for k, v in img.items() if v},
        "student_gain_db": round(rep["summary"]["student_gain_db"], 2),
        "student_teacher_gap_db": (round(rep["summary"]["student_teacher_gap_db"], 2)
                                   if rep["summary"].get("student_teacher_gap_db") is not None else None),
        "warping_error_ratio": {k: round(v, 3) for k, v in temporal["mean_ratio"].items()},
        "temporal_filter_strength": temporal.get("filter_strength"),
        "student_gmacs_256": round(macs / 1e9, 3),
        "measured_by": f"livestyle eval {pack} --data {rep.get('data')} (benchmarks/quality/train_bundled.sh)",
    }
    meta.setdefault("metrics", {})["quality"] = quality
    tmp = meta_path.with_name(".style.json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, meta_path)
    print(json.dumps(quality, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
