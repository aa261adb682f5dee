#!/usr/bin/env bash
# The recipe that produces the bundled styles (issue 4).  Resumable: re-running it
# skips finished datasets, continues interrupted training with --resume, and
# re-evaluates.  Run from the repository root:
#
#     benchmarks/quality/train_bundled.sh            # all bundled looks
#     LOOKS="pastel" benchmarks/quality/train_bundled.sh
#
# Which looks: the tiny residual student (~0.27 G MACs, output = input + delta)
# learns colour grades easily -- pastel and teal_orange are mostly per-pixel
# colour maps plus a soft glow -- so they are the safe bundled styles.  pencil
# (colour-dodge strokes: a local-contrast operation at a few pixels' scale) is
# learnable but harder; anime (flat colour bands + thin ink lines) is the
# hardest for a 4-block student at 1/4 resolution and is left out by default.
#
# Environment knobs (defaults in brackets):
#   LOOKS [pastel teal_orange pencil]   DATA [runs/data]   RUNS [runs]
#   OUT [livestyle/styles/packs]        TEACHER_STEPS [20000]   STUDENT_STEPS [5000]
#   SIZE [128]   STUDENT_SIZE [SIZE]   THREADS [2]   DEFAULT_STYLE [pastel]
set -euo pipefail

PY=${PY:-.venv/bin/python}
LIVESTYLE=${LIVESTYLE:-"$PY -m livestyle"}
LOOKS=${LOOKS:-"pastel teal_orange pencil"}
DATA=${DATA:-runs/data}
RUNS=${RUNS:-runs}
OUT=${OUT:-livestyle/styles/packs}
TEACHER_STEPS=${TEACHER_STEPS:-20000}
STUDENT_STEPS=${STUDENT_STEPS:-5000}
SIZE=${SIZE:-128}
STUDENT_SIZE=${STUDENT_SIZE:-$SIZE}
THREADS=${THREADS:-2}
DEFAULT_STYLE=${DEFAULT_STYLE:-pastel}

mkdir -p "$DATA" "$RUNS" "$OUT" benchmarks/quality/results

for look in $LOOKS; do
    data="$DATA/$look"
    run="$RUNS/$look"
    # 1. the unpaired dataset (deterministic: seed 0); skipped when already complete
    if [ ! -f "$data/provenance.json" ]; then
        "$PY" benchmarks/quality/make_datasets.py "$data" --look "$look" \
            --content 400 --style 400 --test 24 --clips 3 --clip-frames 64 --seed 0
    fi
    # 2. teacher CycleGAN, then student distillation, through the user's path
    args=(train --style-images "$data/trainB" --content-images "$data/trainA"
          --name "$look" --look "$look" --out "$OUT" --run-dir "$run"
          --size "$SIZE" --student-size "$STUDENT_SIZE" --teacher-steps "$TEACHER_STEPS" --student-steps "$STUDENT_STEPS"
          --threads "$THREADS" --no-progress)
    if [ -d "$run" ] && [ -n "$(ls -A "$run" 2>/dev/null)" ]; then
        args+=(--resume)
    fi
    $LIVESTYLE "${args[@]}"
    # 3. the measurement: held-out images + moving clips, with and without the temporal filter
    $LIVESTYLE eval "$OUT/$look" --data "$data" --report "benchmarks/quality/results/$look.json"
    # 4. the measured metrics go into the pack itself (style.json: metrics.quality)
    "$PY" benchmarks/quality/record_metrics.py "$OUT/$look" "benchmarks/quality/results/$look.json" >/dev/null
done

# 5. mark the default style (a metadata flag in its style.json)
if [ -f "$OUT/$DEFAULT_STYLE/style.json" ]; then
    "$PY" - "$OUT" "$DEFAULT_STYLE" <<'PYEOF'
import json, os, sys
from pathlib import Path
out, default = Path(sys.argv[1]), sys.argv[2]
for meta_path in out.glob("*/style.json"):
    meta = json.loads(meta_path.read_text())
    meta["default"] = meta_path.parent.name == default
    tmp = meta_path.with_name(".style.json.tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, meta_path)
PYEOF
fi
echo "done: packs in $OUT, reports in benchmarks/quality/results/"
