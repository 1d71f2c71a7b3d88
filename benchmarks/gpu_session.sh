#!/usr/bin/env bash
# The GPU measurements of benchmarks/ in one script, for a GPU machine that
# has torch but maybe no network and no OpenMMLab packages.
#
# Usage (relative folders are taken from where it is called):
#   bash benchmarks/gpu_session.sh --wheels DIR fetch         # with network
#   bash benchmarks/gpu_session.sh --wheels DIR install tests bench
#   bash benchmarks/gpu_session.sh ladder profile check
# Options (before the stages; each also read from the environment):
#   --wheels DIR   folder of the wheels for fetch/install ($SADINET_WHEELS)
#   --results DIR  where reports, JSON and logs go
#                  ($SADINET_RESULTS, default work_dirs/gpu_session)
#   --site DIR     install target of the wheels, put on PYTHONPATH
#                  ($SADINET_SITE, default work_dirs/gpu_site)
# Other environment: PYTHON (default python3), DEVICE_PYTHON (the GPU
# machine's Python version for fetch, default 3.12).
# Stages:
#   fetch    download into the wheel folder the packages a torch-only
#            machine lacks (binary wheels for DEVICE_PYTHON, the
#            xtcocotools source); copy the folder to the GPU machine
#   install  pip-install the wheel folder into the site folder, no network
#            (skipped for what is importable already)
#   tests    the GPU-marked tests, but the precision check
#   bench    benchmark.py train and infer: Hourglass-52 vs SADI-Net, batch
#            64, training fp32, fp32+cl, bf16, bf16+cl; inference fp32,
#            bf16+cl and bf16+cl+compile at batch 1 and 64
#   ladder   benchmark.py train --ladder: stock Hourglass-52 -> the same
#            network from RFMHourglass with basic blocks -> + dilated branch
#            and SE (RFM) -> + SFM neck and DLM head (SADI-Net); fp32 and
#            bf16+cl, each against the one before
#   profile  benchmark.py profile: bf16+cl training steps by kernel
#            category and part, with Chrome traces
#   check    the GPU test of 200 runner iterations each in fp32/fp16/bf16
# Every measuring stage runs under its own time limit (a hung stage cannot
# take the later ones with it) and logs to RESULTS/<name>.log.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)

WHL_DIR=${SADINET_WHEELS:-}
OUT_DIR=${SADINET_RESULTS:-$REPO/work_dirs/gpu_session}
SITE_DIR=${SADINET_SITE:-$REPO/work_dirs/gpu_site}
while [ $# -gt 0 ]; do
    case $1 in
    --wheels | --results | --site)
        if [ $# -lt 2 ] || [ -z "$2" ]; then
            echo "$1 needs a folder" >&2
            exit 2
        fi
        case $1 in
        --wheels) WHL_DIR=$2 ;;
        --results) OUT_DIR=$2 ;;
        --site) SITE_DIR=$2 ;;
        esac
        shift 2
        ;;
    -*) echo "unknown option '$1' (--wheels, --results, --site)" >&2; exit 2 ;;
    *) break ;;
    esac
done
if [ $# -eq 0 ]; then
    echo "no stage given (fetch install tests bench ladder profile check)" >&2
    exit 2
fi
absolute() {  # a folder named relative to where the script was called
    case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac
}
[ -z "$WHL_DIR" ] || WHL_DIR=$(absolute "$WHL_DIR")
OUT_DIR=$(absolute "$OUT_DIR")
SITE_DIR=$(absolute "$SITE_DIR")
cd "$REPO" || exit 2
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export PYTHONPATH=$SITE_DIR:$REPO${PYTHONPATH:+:$PYTHONPATH}
SADI=configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py
HG=mmpose::body_2d_keypoint/topdown_heatmap/mpii/td-hm_hourglass52_8xb64-210e_mpii-256x256.py
ABL=configs/sadinet/ablations
status=0

need_wheels() {  # the wheel folder must be named for fetch and install
    if [ -z "$WHL_DIR" ]; then
        echo "stage '$1' needs the wheel folder: --wheels DIR or SADINET_WHEELS=DIR" >&2
        exit 2
    fi
}

run() {  # run NAME SECONDS CMD...: log to $OUT_DIR/NAME.log, stop the
    # command after SECONDS, remember a failure
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s): $*"
    local t0=$SECONDS
    timeout --signal=INT --kill-after=20 "$limit" "$@" 2>&1 |
        tee "$OUT_DIR/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - t0)) s"
    [ "$rc" -eq 0 ] || status=1
}

DEVICE_PYTHON=${DEVICE_PYTHON:-3.12}
# the OpenMMLab stack of requirements.txt and what it needs beyond torch/numpy
WHEELS="mmengine==0.10.7 mmcv-lite==2.1.0 mmpose==1.3.2 mmdet==3.3.0
json_tricks==3.17.3 munkres==1.1.4 addict==2.4.0 yapf==0.43.0
platformdirs==4.14.7 termcolor==3.3.0 terminaltables==3.1.10 cython==3.3.1
setuptools==80.9.0"

for stage in "$@"; do
    case $stage in
    fetch)
        need_wheels fetch
        mkdir -p "$WHL_DIR"
        # shellcheck disable=SC2086
        $PY -m pip download -q --no-deps --only-binary=:all: \
            --python-version "$DEVICE_PYTHON" --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 -d "$WHL_DIR" $WHEELS || exit 2
        # xtcocotools has no numpy-2 wheel: its source, built there; pip
        # reads its metadata with numpy imported, so use the project's env
        SDIST_PY=$PY
        [ -x .venv/bin/python ] && SDIST_PY=.venv/bin/python
        $SDIST_PY -m pip download -q --no-deps --no-binary=:all: \
            --no-build-isolation -d "$WHL_DIR" xtcocotools==1.14.3 || exit 2
        ls "$WHL_DIR"
        ;;
    install)
        if ! $PY -c 'import mmpose, mmengine, mmcv' 2>/dev/null; then
            need_wheels install
            if ! ls "$WHL_DIR"/*.whl >/dev/null 2>&1; then
                echo "no wheels in $WHL_DIR: run the fetch stage where there is a network" >&2
                exit 2
            fi
            $PY -m pip install -q --no-index --no-deps --no-compile \
                --no-cache-dir --upgrade --target "$SITE_DIR" \
                "$WHL_DIR"/*.whl || exit 2
        fi
        if ! $PY -c 'import xtcocotools' 2>/dev/null; then
            need_wheels install
            $PY -m pip install -q --no-index --no-deps --no-build-isolation \
                --no-cache-dir --target "$SITE_DIR" \
                "$WHL_DIR"/xtcocotools-*.tar.gz || exit 2
        fi
        $PY -c 'import torch, mmpose, sadinet_mmpose; print("torch",
torch.__version__, "mmpose", mmpose.__version__, "cuda",
torch.cuda.get_device_name())' || exit 2
        ;;
    tests)
        run gpu_tests 180 $PY -m pytest -q -m gpu -p no:cacheprovider tests \
            --deselect tests/test_workflows/test_mixed_precision_gpu.py
        ;;
    bench)
        run train 240 $PY benchmarks/benchmark.py train --device cuda \
            --configs "Hourglass-52=$HG" "SADI-Net=$SADI" \
            --modes fp32,fp32+cl,bf16,bf16+cl --out "$OUT_DIR/train_cuda.md"
        run infer 150 $PY benchmarks/benchmark.py infer --device cuda \
            --configs "Hourglass-52=$HG" "SADI-Net=$SADI" \
            --modes fp32,bf16+cl,bf16+cl+compile --out "$OUT_DIR/infer_cuda.md"
        ;;
    ladder)
        run ladder 270 $PY benchmarks/benchmark.py train --device cuda --ladder \
            --configs "Hourglass-52=$HG" \
            "HG52-basic=$ABL/td-hm_hourglass52-basic_2xb32-210e_mpii-256x256.py" \
            "RFM=$ABL/td-hm_sadinet-rfm_2xb32-210e_mpii-256x256.py" \
            "SADI-Net=$SADI" --modes fp32,bf16+cl --out "$OUT_DIR/ladder_cuda.md"
        ;;
    profile)
        run profile 200 $PY benchmarks/benchmark.py profile --device cuda \
            --configs "Hourglass-52=$HG" "SADI-Net=$SADI" --precision bf16+cl \
            --parts --trace "$OUT_DIR/traces" --out "$OUT_DIR/profile_cuda.md"
        ;;
    check)
        run precision_check 330 $PY -m pytest -q -m gpu -p no:cacheprovider \
            tests/test_workflows/test_mixed_precision_gpu.py
        ;;
    *)
        echo "unknown stage '$stage' (fetch install tests bench ladder profile check)" >&2
        exit 2
        ;;
    esac
done
exit $status
