#!/usr/bin/env bash
# Issue 16's device run, prepared: the whole study, then fine-tuning throughput
# of mammoclf vs plain Keras vs PyTorch, each step under its own time cap.
#
# On the GPU machine (from the repository root; .whl/ carried, see
# benchmarks/README.md):
#     bash benchmarks/gpu_suite.sh
# Dry run on a CPU at toy sizes, with the same environment variables:
#     OUT=/tmp/out PYTHON=.venv/bin/python bash benchmarks/gpu_suite.sh --toy
#
# Every measured row is appended to $OUT/RESULTS-gpu.md as soon as its step
# ends (copy the rows into benchmarks/RESULTS.md afterwards); each step's
# output goes to $OUT/<step>.log, the suite's own lines to $OUT/suite.log and
# the environment notes to $OUT/env.txt. A step cut at its cap leaves a row
# saying so (for the study, with the fits done and their mean time).
#
# Environment:
#   OUT       results folder (required)
#   PYTHON    interpreter (default python3, the device's)
#   SITE      where wheels and mammoclf are installed (default /tmp/site)
#   STEPS     comma-separated subset, in this order of value (default: all):
#             study,keras256,keras64,torch,schedule
#   CAP_<STEP> seconds allowed per step (defaults below: 540 s in all, under
#             the device's 600 s per command; run two calls with STEPS to
#             give each step more)
set -u -o pipefail
cd "$(dirname "$0")/.."

TOY=0
for argument in "$@"; do
    case $argument in
        --toy) TOY=1 ;;
        *) echo "unknown argument: $argument (only --toy)" >&2; exit 2 ;;
    esac
done
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/site}
STEPS=${STEPS:-study,keras256,keras64,torch,schedule}
ROWS=$OUT/RESULTS-gpu.md
LOG=$OUT/suite.log

export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
# Compiled programs are reused across fits and processes: the second fit of a
# configuration loads its train step instead of compiling it (see
# docs/user_guide/scaling.md). XLA's autotuning stays at its defaults.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/mammoclf-jax-cache}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=${JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES:-0}

log() { echo "[gpu_suite $(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
MACHINE="$(nproc) cores; $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)"
row() {  # a row for RESULTS.md, in its format
    echo "| $(date -u +%F) | $1 | ${MACHINE%; } | jax | \`bash benchmarks/gpu_suite.sh\` | $2 |" >>"$ROWS"
}

# ------------------------------------------------------------------ install
started=$(date +%s)
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target "$SITE" .whl/*.whl || { log "wheel install failed"; exit 1; }
fi
export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
# mammoclf without dependencies: TensorFlow, a hard dependency, is not
# installable there and not needed with KERAS_BACKEND=jax. Building it offline
# needs setuptools >= 77 (the SPDX license field), carried as a wheel if the
# interpreter's is older; failing that, the package is copied as it is.
if "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
    --no-cache-dir --upgrade --target "$SITE" . >"$OUT/install.log" 2>&1; then
    log "mammoclf installed with pip (--no-deps)"
else
    log "pip could not build mammoclf ($(grep -m1 -o 'ValueError: .*' "$OUT/install.log" || tail -1 "$OUT/install.log")); copying the package instead"
    rm -rf "$SITE/mammoclf" && mkdir -p "$SITE" && cp -r mammoclf "$SITE/" || { log "copy failed"; exit 1; }
fi
"$PYTHON" benchmarks/check_env.py >"$OUT/env.txt" 2>&1 || { log "environment check failed"; cat "$OUT/env.txt"; exit 1; }
log "installed in $(( $(date +%s) - started )) s; environment:"
cat "$OUT/env.txt" | tee -a "$LOG"
HAVE_TORCH=0
"$PYTHON" -c "import torch, torchvision" 2>/dev/null && HAVE_TORCH=1

# -------------------------------------------------------------------- sizes
if [ "$TOY" = 1 ]; then
    STUDY_ARGS=(--n-images 24 --image-size 32 --cv 2 --epochs-scratch 1 --epochs-densenet 1 --batch-size 8 --n-jobs 2)
    GPU_ARGS=(--n-images 16 --image-size 32 --epochs 2)
    SCHEDULE_ARGS=(--schedule-images 16 --schedule-epochs 1 --schedule-batch-size 8)
    BATCH_LARGE=8; BATCH_SMALL=4; TORCH_DEVICE=cpu
    : "${CAP_STUDY:=900}" "${CAP_KERAS256:=600}" "${CAP_KERAS64:=600}" "${CAP_TORCH:=600}" "${CAP_SCHEDULE:=600}"
else
    # The paper's epochs: the CNN 50, each DenseNet stage 15.
    STUDY_ARGS=(--n-images 3000 --image-size 224 --cv 5 --epochs-scratch 50 --epochs-densenet 15 --batch-size 64 --n-jobs 16)
    GPU_ARGS=(--n-images 2048 --image-size 224 --epochs 4)
    SCHEDULE_ARGS=(--schedule-images 2400 --schedule-epochs 10 --schedule-batch-size 256)
    BATCH_LARGE=256; BATCH_SMALL=64; TORCH_DEVICE=cuda
    : "${CAP_STUDY:=240}" "${CAP_KERAS256:=110}" "${CAP_KERAS64:=60}" "${CAP_TORCH:=70}" "${CAP_SCHEDULE:=60}"
fi

# step NAME CAP COMMAND...: run under `timeout`, keep the output, note a cut.
step() {
    local name=$1 cap=$2
    shift 2
    log "step $name: cap ${cap} s: $*"
    local begun=$(date +%s)
    timeout --kill-after=15 "$cap" "$@" >>"$OUT/$name.log" 2>&1
    local status=$?
    log "step $name: exit $status after $(( $(date +%s) - begun )) s"
    if [ "$status" = 124 ] || [ "$status" = 137 ]; then
        local detail="cut at its ${cap} s cap"
        if [ "$name" = study ]; then
            # compare_models prints one line per finished fit (--verbose).
            local done=$(grep -c '^\[compare_models\] *[0-9]*/' "$OUT/$name.log")
            local fits=$(grep -o 'fit [0-9.]* s' "$OUT/$name.log" | awk '{s+=$2; n++} END {if (n) printf "%.1f", s/n; else print "n/a"}')
            detail="$detail: $done fits finished (mean fit $fits s; per-fold lines in study.log)"
        fi
        row "gpu $name" "$detail"
    elif [ "$status" != 0 ]; then
        row "gpu $name" "failed (exit $status): $(tail -2 "$OUT/$name.log" | tr '|\n' '/ ')"
    fi
}

has_step() { [[ ",$STEPS," == *",$1,"* ]]; }
RECORD=(--results-file "$ROWS")

if has_step study; then
    step study "$CAP_STUDY" "$PYTHON" benchmarks/bench_study_gpu.py "${STUDY_ARGS[@]}" \
        --precision mixed_bfloat16 --no-baseline --verbose "${RECORD[@]}"
fi
if has_step keras256; then
    step keras256 "$CAP_KERAS256" "$PYTHON" benchmarks/bench_gpu.py --parts throughput \
        --configs mammoclf,keras-bf16,keras-fp32 --batch-sizes "$BATCH_LARGE" "${GPU_ARGS[@]}" \
        --json "$OUT/keras256.json" "${RECORD[@]}"
fi
if has_step keras64; then
    step keras64 "$CAP_KERAS64" "$PYTHON" benchmarks/bench_gpu.py --parts throughput \
        --configs mammoclf,keras-bf16 --batch-sizes "$BATCH_SMALL" "${GPU_ARGS[@]}" \
        --json "$OUT/keras64.json" "${RECORD[@]}"
fi
if has_step torch; then
    if [ "$HAVE_TORCH" = 1 ]; then
        step torch "$CAP_TORCH" "$PYTHON" benchmarks/bench_gpu.py --parts throughput \
            --configs torch-fp32,torch-bf16,torch-bf16-compile --batch-sizes "$BATCH_LARGE" \
            "${GPU_ARGS[@]}" --torch-device "$TORCH_DEVICE" --json "$OUT/torch.json" "${RECORD[@]}"
    else
        log "step torch: skipped, PyTorch is not installed here"
    fi
fi
if has_step schedule; then
    if [ "$HAVE_TORCH" = 1 ]; then
        step schedule "$CAP_SCHEDULE" "$PYTHON" benchmarks/bench_gpu.py --parts schedule \
            "${GPU_ARGS[@]}" "${SCHEDULE_ARGS[@]}" --torch-mode bf16-compile \
            --torch-device "$TORCH_DEVICE" --json "$OUT/schedule.json" "${RECORD[@]}"
    else
        log "step schedule: skipped, PyTorch is not installed here"
    fi
fi
log "done in $(( $(date +%s) - started )) s; rows in $ROWS"
