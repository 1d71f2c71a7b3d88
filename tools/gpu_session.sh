#!/usr/bin/env bash
# Issue 7's GPU measurements in as few calls as possible, on a lent GPU
# machine that has torch but no network and no OpenMMLab packages.
#
# Usage (from the repository root, with the wheels of README "Speed on one
# GPU" in .whl/):
#   bash tools/gpu_session.sh install tests bench      # first call
#   bash tools/gpu_session.sh install profile check    # second call
# Stages:
#   install  pip-install the carried wheels into /tmp/site (no network)
#   tests    the GPU-marked tests (CUDA graphs, resizing on CUDA)
#   bench    tools/benchmark.py: Hourglass-52 vs SADI-Net, batch 64, train
#            fp32, fp32+cl, bf16, bf16+cl; inference fp32, bf16+cl,
#            bf16+cl+graph at batch 1 and 64
#   profile  tools/profile_step.py: fp32 training step, and batch-1
#            inference in the fast setting
#   check    tools/train_check.py: 200 iterations each in fp32/fp16/bf16
# Everything is written under $OUT (the device tool's output folder) or
# work_dirs/gpu_session.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT:-$PWD/work_dirs/gpu_session}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
SADI=configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py
HG=mmpose::body_2d_keypoint/topdown_heatmap/mpii/td-hm_hourglass52_8xb64-210e_mpii-256x256.py
status=0

run() {  # run NAME CMD...: log to $OUT_DIR/NAME.log, remember a failure
    local name=$1
    shift
    echo "== $name: $*"
    local t0=$SECONDS
    "$@" 2>&1 | tee "$OUT_DIR/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - t0)) s"
    [ "$rc" -eq 0 ] || status=1
}

for stage in "$@"; do
    case $stage in
    install)
        if [ ! -d .whl ]; then
            echo "no .whl/ folder: carry the wheels (README)" >&2
            exit 2
        fi
        $PY -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 2
        export PYTHONPATH=/tmp/site:$PWD
        if ! $PY -c 'import xtcocotools' 2>/dev/null; then
            $PY -m pip install -q --no-index --no-deps --no-build-isolation \
                --no-cache-dir --target /tmp/site \
                .whl/xtcocotools-*.tar.gz || exit 2
        fi
        $PY -c 'import torch, mmpose, sadinet_mmpose; print("torch",
torch.__version__, "mmpose", mmpose.__version__, "cuda",
torch.cuda.get_device_name())' || exit 2
        ;;
    tests)
        run gpu_tests $PY -m pytest -q -m gpu -p no:cacheprovider \
            tests/test_models/test_utils
        ;;
    bench)
        run benchmark $PY tools/benchmark.py --device cuda --batch 64 \
            --configs "Hourglass-52=$HG" "SADI-Net=$SADI" \
            --train-modes fp32,fp32+cl,bf16,bf16+cl \
            --infer-modes fp32,bf16+cl,bf16+cl+graph --latency-batches 1,64 \
            --out "$OUT_DIR/benchmarks.md" --json "$OUT_DIR/benchmarks.json"
        ;;
    profile)
        run profile_fp32 $PY tools/profile_step.py --device cuda \
            --mode fp32 --rows 40 --out "$OUT_DIR/profile_fp32.md"
        run profile_b1 $PY tools/profile_step.py --device cuda --infer \
            --batch 1 --mode bf16+cl+graph --steps 20 --rows 25 \
            --out "$OUT_DIR/profile_infer_b1.md"
        ;;
    check)
        run train_check $PY tools/train_check.py "$SADI" --iters 200 \
            --precisions fp32,fp16,bf16 --work-dir /tmp/train_check \
            --data-root /tmp/synthetic_check --out "$OUT_DIR/train_check.md"
        ;;
    *)
        echo "unknown stage '$stage' (install tests bench profile check)" >&2
        exit 2
        ;;
    esac
done
exit $status
