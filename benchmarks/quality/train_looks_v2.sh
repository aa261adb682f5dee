#!/usr/bin/env bash
# Looks v2: the bundled colour looks, each trained through the user's path (`livestyle train` with its
# defaults: an adaptive 3D LUT learned unpaired), measured with `livestyle eval`, then gathered into the
# one bundled engine.  Resumable: a finished look is skipped, an interrupted one continues with --resume.
#
#     benchmarks/quality/train_looks_v2.sh                 # all looks, then the engine
#     LOOKS="pastel" benchmarks/quality/train_looks_v2.sh
#
# A look name ending in 12 (e.g. pastel12) trains the same look from only 12 style photos (the
# "few photos" target); it is measured but not bundled.
set -u
PY=${PY:-.venv/bin/python}
LOOKS=${LOOKS:-"pastel soft_glow vintage mono teal_orange pastel12 vintage12 mono12"}
DATA=${DATA:-runs/data}
RUNS=${RUNS:-runs/v2}
mkdir -p "$RUNS" benchmarks/quality/results
for name in $LOOKS; do
  look=${name%12}
  data="$DATA/$name"
  if [ ! -f "$DATA/$look/provenance.json" ]; then
    "$PY" benchmarks/quality/make_datasets.py "$DATA/$look" --look "$look" --content 400 --style 400 --test 24 \
        --clips 3 --clip-frames 64 --seed 0
  fi
  if [ "$name" != "$look" ] && [ ! -d "$data/trainB" ]; then   # the few-photos set: the first 12 style photos
    mkdir -p "$data/trainB"
    ls "$DATA/$look/trainB" | head -12 | while read -r f; do cp "$DATA/$look/trainB/$f" "$data/trainB/"; done
    for d in trainA test clips; do ln -sfn "../$look/$d" "$data/$d"; done
  fi
  run="$RUNS/$name"
  args=(train --style-images "$data/trainB" --content-images "$data/trainA" --name "$name" --look "$look"
        --out "$RUNS/packs" --run-dir "$run" --no-progress)
  if [ ! -f "$run/.done" ]; then
    [ -f "$run/checkpoint.safetensors" ] && args+=(--resume)
    /usr/bin/time -f "%e s wall, %U s user CPU" "$PY" -m livestyle "${args[@]}" > "$RUNS/$name.train.log" 2>&1 \
        && touch "$run/.done"
  fi
  "$PY" -m livestyle eval "$RUNS/packs/$name" --data "$data" --report "$RUNS/eval-$name.json" > "$RUNS/$name.eval.log" 2>&1
done
