#!/usr/bin/env bash
# GPU check of skcanon (issue 17): the CUDA tests and the GPU benchmark rows, in one go.
#
#   bash benchmarks/gpu_check.sh            # from the repository root (or anywhere)
#
# What it does, in under 8 minutes on one accelerator:
#   1. picks a Python whose torch sees CUDA ($PYTHON, else python3, else the first of
#      /opt/*/.venv/bin/python3, .venv/bin/python); without one it says so and exits 3;
#   2. installs skcanon the README's way minus the CPU pin: `pip install -e ".[torch,test]"`
#      WITHOUT `-c constraints/cpu.txt` (that file pins the CPU build of torch; here the
#      CUDA torch already present is kept: the extra asks only torch>=2.1). Machines without
#      a package registry install missing pure-Python dependencies (skorch) from wheels in
#      .whl/ (`pip download --no-deps -d .whl skorch==1.4.0` on a connected machine, then
#      carry .whl), and skcanon itself with --no-deps --no-build-isolation (or PYTHONPATH);
#   3. runs `pytest -m gpu` on the test files carrying the mark (time limit 300 s);
#   4. runs `benchmarks/run.py --device cuda --write-docs` (GPU rows only; no new model after 150 s),
#      which rewrites only the GPU section of docs/performance.md;
#   5. writes everything to $OUT if set, else benchmarks/gpu_results/:
#      gpu_summary.txt (device, versions, test summary, rows), pytest_gpu.txt, pytest_gpu.xml,
#      gpu_rows.jsonl (one JSON object per row, device name and date in each),
#      performance.md (the page with its new GPU section) and performance_rows.jsonl (the
#      rows it is rendered from: copy it to docs/_static/performance/rows.jsonl), gpu_check.log.
# Exit status: 0 tests passed and rows measured; 1 a test failed or a row errored;
# 3 no CUDA device (nothing measured); 4 dependencies missing.
# GPU_CHECK_DRY_RUN=1 checks this script's plumbing on a machine without CUDA: it accepts a
# CPU torch, runs tests/test_gpu.py on the CPU (SKCANON_GPU_DEVICE=cpu, --noconftest) and
# bench_gpu.py --device cpu --quick, and leaves docs/performance.md alone. No GPU figure.
set -u
START=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 4
RESULTS=${OUT:-$ROOT/benchmarks/gpu_results}
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu_check.log
SUMMARY=$RESULTS/gpu_summary.txt
: >"$LOG"
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
say() { echo "gpu_check: $*" | tee -a "$LOG" >&2; }
elapsed() { echo $(( $(date +%s) - START )); }

# -- 1. a Python whose torch sees CUDA ------------------------------------------------------------
CANDIDATES=()
[ -n "${PYTHON:-}" ] && CANDIDATES+=("$PYTHON")
CANDIDATES+=(python3)
for p in /opt/*/.venv/bin/python3 "$ROOT/.venv/bin/python"; do [ -x "$p" ] && CANDIDATES+=("$p"); done
PY=""
TRIED=""
for cand in "${CANDIDATES[@]}"; do
    command -v "$cand" >/dev/null 2>&1 || continue
    state=$("$cand" - 2>/dev/null <<'EOF'
try:
    import torch
except Exception as exc:
    print(f"no torch ({type(exc).__name__})")
else:
    print("cuda" if torch.cuda.is_available() else f"torch {torch.__version__} without CUDA")
EOF
)
    TRIED="$TRIED
  $cand: ${state:-does not run}"
    if [ "$state" = "cuda" ]; then PY=$cand; break; fi
    if [ -n "${GPU_CHECK_DRY_RUN:-}" ] && [ "${state#torch }" != "$state" ]; then PY=$cand; break; fi
done
if [ -z "$PY" ]; then
    {
        echo "gpu_check: no CUDA device visible: no Python here has a torch that sees a GPU."
        echo "Tried:$TRIED"
        echo "Nothing was measured; the GPU rows stay \"not measured\". Run this script on a machine"
        echo "with an NVIDIA GPU and a CUDA build of torch (set PYTHON=/path/to/python to choose one)."
        echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    } | tee "$SUMMARY" | tee -a "$LOG" >&2
    exit 3
fi
say "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

# -- 2. install ------------------------------------------------------------------------------------
missing() {
    "$PY" - <<'EOF'
import importlib
need = {"numpy": None, "scipy": None, "sklearn": (1, 6), "networkx": None, "skorch": None,
        "joblib": None, "pytest": None, "hypothesis": None}
out = []
for mod, floor in need.items():
    try:
        m = importlib.import_module(mod)
    except Exception:
        out.append(mod)
        continue
    if floor:
        v = tuple(int(x) for x in m.__version__.split(".")[:2])
        if v < floor:
            out.append(f"{mod}<{'.'.join(map(str, floor))}")
print(" ".join(out))
EOF
}
MISSING=$(missing)
if [ -n "$MISSING" ]; then
    say "missing before install: $MISSING"
    if ls "$ROOT"/.whl/*.whl >/dev/null 2>&1; then
        say "installing the wheels in .whl/ (offline)"
        "$PY" -m pip install -q --no-index --no-deps "$ROOT"/.whl/*.whl >>"$LOG" 2>&1 \
            || "$PY" -m pip install -q --no-index --no-deps --target /tmp/skcanon_site "$ROOT"/.whl/*.whl >>"$LOG" 2>&1
        [ -d /tmp/skcanon_site ] && export PYTHONPATH=/tmp/skcanon_site${PYTHONPATH:+:$PYTHONPATH}
    fi
fi
MISSING=$(missing)
if [ -n "$MISSING" ]; then
    # the README's install, without the CPU pin (keeps this machine's CUDA torch); needs a registry
    say "still missing: $MISSING; trying pip install -e .[torch,test] (needs a package registry)"
    timeout 90 "$PY" -m pip install -q --retries 0 --timeout 10 -e "$ROOT[torch,test]" >>"$LOG" 2>&1 \
        || say "pip install -e .[torch,test] failed (no registry?)"
fi
# skcanon itself: nothing to download
"$PY" -c "import skcanon" >/dev/null 2>&1 && [ "$("$PY" -c 'import skcanon, os; print(os.path.dirname(os.path.dirname(skcanon.__file__)))')" = "$ROOT" ] \
    || "$PY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >>"$LOG" 2>&1 \
    || say "editable install of skcanon failed; using PYTHONPATH=$ROOT"
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
MISSING=$(missing)
if [ -n "$MISSING" ]; then
    {
        echo "gpu_check: missing Python packages: $MISSING"
        echo "No registry here? On a connected machine: pip download --no-deps -d .whl skorch==1.4.0"
        echo "(and any other missing pure-Python package), then carry .whl with the working tree."
    } | tee "$SUMMARY" | tee -a "$LOG" >&2
    exit 4
fi
VERSIONS=$("$PY" - <<'EOF'
import numpy, scipy, sklearn, skorch, torch, skcanon
print(f"skcanon {skcanon.__version__} ({skcanon.__file__}), torch {torch.__version__} (CUDA {torch.version.cuda}), "
      f"numpy {numpy.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
      f"skorch {skorch.__version__}; device: "
      + (f"{torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB"
         if torch.cuda.is_available() else "none (dry run on the CPU)"))
EOF
)
say "$VERSIONS"
say "install done after $(elapsed) s"

# -- 3. the CUDA tests -------------------------------------------------------------------------------
# `pytest -m gpu` over the test files that carry the mark (collecting the others would only
# import them; an optional package missing here would turn into collection errors)
mapfile -t TESTS < <(grep -l "pytest.mark.gpu" tests/test_*.py)
[ "${#TESTS[@]}" = 0 ] && TESTS=(tests)
[ -n "${GPU_CHECK_DRY_RUN:-}" ] && TESTS=(--noconftest tests/test_gpu.py) && export SKCANON_GPU_DEVICE=cpu
say "pytest -m gpu ${TESTS[*]}"
timeout 300 "$PY" -m pytest -m gpu -p no:xdist -p no:cacheprovider -q -rA --continue-on-collection-errors \
    --junitxml="$RESULTS/pytest_gpu.xml" "${TESTS[@]}" >"$RESULTS/pytest_gpu.txt" 2>&1
PYTEST_RC=$?
TEST_LINE=$(grep -E "(passed|failed|error|skipped|no tests ran)" "$RESULTS/pytest_gpu.txt" | tail -1)
[ "$PYTEST_RC" = 124 ] && TEST_LINE="timed out after 300 s; $TEST_LINE"
say "pytest exit $PYTEST_RC: $TEST_LINE (after $(elapsed) s)"
cat "$RESULTS/pytest_gpu.txt" >>"$LOG"

# -- 4. the GPU rows ---------------------------------------------------------------------------------
if [ -z "${GPU_CHECK_DRY_RUN:-}" ]; then
    say "benchmarks/run.py --device cuda --write-docs"
    timeout 250 "$PY" benchmarks/run.py --device cuda --gpu-budget-s 150 --timeout 230 --write-docs \
        >"$RESULTS/bench_gpu.out" 2>>"$LOG"
else
    say "dry run: benchmarks/bench_gpu.py --device cpu --quick (not a GPU figure)"
    timeout 240 "$PY" benchmarks/bench_gpu.py --device cpu --quick --budget-s 60 >"$RESULTS/bench_gpu.out" 2>>"$LOG"
fi
BENCH_RC=$?
grep '^{' "$RESULTS/bench_gpu.out" >"$RESULTS/gpu_rows.jsonl"
grep -v '^{' "$RESULTS/bench_gpu.out" >>"$LOG"
rm -f "$RESULTS/bench_gpu.out"
cp docs/performance.md "$RESULTS/performance.md" 2>/dev/null
cp docs/_static/performance/rows.jsonl "$RESULTS/performance_rows.jsonl" 2>/dev/null
say "benchmarks exit $BENCH_RC: $(wc -l <"$RESULTS/gpu_rows.jsonl") rows (after $(elapsed) s)"

# -- 5. summary ----------------------------------------------------------------------------------------
{
    echo "skcanon GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(elapsed) s"
    echo "$VERSIONS"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    echo
    echo "pytest -m gpu ${TESTS[*]} (exit $PYTEST_RC): $TEST_LINE"
    grep -E "^(FAILED|ERROR)" "$RESULTS/pytest_gpu.txt" | head -40
    echo
    echo "benchmarks/run.py --device cuda (exit $BENCH_RC):"
    "$PY" - "$RESULTS/gpu_rows.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "error" in r or r.get("status") == "not measured":
        print(f"  {r['name']}: {r.get('error') or r.get('note')}")
        continue
    extra = f", {r['ratio']:.1f}x d2d copy" if r.get("ratio") else ""
    extra += f", network {r['network_per_s']:,.0f}/s" if r.get("network_per_s") else ""
    extra += f", batch {r['batch']}" if r.get("batch") else ""
    print(f"  {r['name']}: {r.get('throughput', 0):,.0f} samples/s{extra}"
          f", device peak {r.get('peak_device_mb')} MB [{r.get('device_name')}, {r.get('date')}]")
EOF
} >"$SUMMARY" 2>&1
cat "$SUMMARY" | tee -a "$LOG"
if [ "$PYTEST_RC" != 0 ] || [ "$BENCH_RC" != 0 ]; then exit 1; fi
exit 0
