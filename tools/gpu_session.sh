#!/usr/bin/env bash
# Issue 7's GPU measurements in as few calls as possible, on a lent GPU
# machine that has torch but no network and no OpenMMLab packages.
#
# Usage, from the repository root:
#   bash tools/gpu_session.sh fetch                    # here, with network
#   bash tools/gpu_session.sh install tests bench      # GPU machine, 1st call
#   bash tools/gpu_session.sh install ladder convs profile  # GPU, 2nd call
#   bash tools/gpu_session.sh install check            # GPU machine, 3rd call
# (.whl/ is git-ignored: name it in the device tool's carry list)
# Stages:
#   fetch    download the packages the GPU machine lacks into .whl/ (for
#            its Python, DEVICE_PYTHON=3.12 by default)
#   install  pip-install the carried wheels into /tmp/site (no network)
#   tests    the GPU-marked tests (CUDA graphs, resizing on CUDA)
#   bench    tools/benchmark.py: Hourglass-52 vs SADI-Net, batch 64, train
#            fp32, fp32+cl, bf16, bf16+cl; inference fp32, bf16+cl,
#            bf16+cl+graph at batch 1 and 64; then a second run with
#            training fp32, bf16+cl, bf16+cl+graph (forward and backward of
#            backbone + neck from CUDA graphs)
#   ladder   tools/benchmark.py --ladder: stock Hourglass-52 -> the same
#            network from RFMHourglass with basic blocks -> + dilated
#            branch and SE (RFM) -> + SFM neck and DLM head (SADI-Net)
#            -> the same with PhaseConv2d dilated branches; training fp32
#            and bf16+cl, the marginal cost of each part
#   convs    tools/benchmark_convs.py: each conv layer of SADI-Net alone,
#            dilated ones native / PhaseConv2d / undilated, fp32 + bf16+cl
#   profile  tools/profile_step.py: fp32 and bf16+cl training steps (with
#            the device busy share and the operations by part), and
#            batch-1 inference in the fast setting
#   check    tools/train_check.py: 200 iterations each in fp32/fp16/bf16,
#            and bf16 with the fast config + training CUDA graphs
# Everything (reports, JSON, logs) is written to work_dirs/gpu_session;
# where $OUT is set (the device tool's output folder, which brings back at
# most 8 files) that folder is also packed, after every stage, into
# $OUT/gpu_session.tar.gz: a run cut off by its time limit still returns
# the stages it finished.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=$PWD/work_dirs/gpu_session
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
SADI=configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py
HG=mmpose::body_2d_keypoint/topdown_heatmap/mpii/td-hm_hourglass52_8xb64-210e_mpii-256x256.py
ABL=configs/sadinet/ablations
FAST=configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_fast-bf16-cl_2xb32-210e_mpii-256x256.py
status=0

run() {  # run NAME SECONDS CMD...: log to $OUT_DIR/NAME.log, stop the
    # command after SECONDS (the device call has 10 minutes in all: a hung
    # stage must not take the later ones with it), remember a failure
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s): $*"
    local t0=$SECONDS
    timeout --signal=INT --kill-after=20 "$limit" "$@" 2>&1 |
        tee "$OUT_DIR/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - t0)) s"
    [ "$rc" -eq 0 ] || status=1
    if [ -n "${OUT:-}" ]; then
        tar -czf "$OUT/gpu_session.tar.gz.tmp" -C "$OUT_DIR/.." gpu_session &&
            mv "$OUT/gpu_session.tar.gz.tmp" "$OUT/gpu_session.tar.gz"
    fi
}

derived_cfg() {  # derived_cfg NAME BASE LINE: a config = BASE + LINE; prints its path
    local path=work_dirs/gpu_session_$1.py
    mkdir -p work_dirs
    printf "_base_ = ['../%s']\n%s\n" "$2" "$3" >"$path"
    echo "$path"
}

WHL_DIR=${WHL_DIR:-.whl}
DEVICE_PYTHON=${DEVICE_PYTHON:-3.12}
# the OpenMMLab stack of requirements.txt and what it needs beyond torch/numpy
WHEELS="mmengine==0.10.7 mmcv-lite==2.1.0 mmpose==1.3.2 mmdet==3.3.0
json_tricks==3.17.3 munkres==1.1.4 addict==2.4.0 yapf==0.43.0
platformdirs==4.14.7 termcolor==3.3.0 terminaltables==3.1.10 cython==3.3.1
setuptools==80.9.0"

for stage in "$@"; do
    case $stage in
    fetch)
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
        if ! ls "$WHL_DIR"/*.whl >/dev/null 2>&1; then
            echo "no wheels in $WHL_DIR: run the fetch stage where there is a network, and carry $WHL_DIR" >&2
            exit 2
        fi
        export PYTHONPATH=/tmp/site:$PWD
        # a machine still warm from the last call has them already
        if ! $PY -c 'import mmpose, mmengine, mmcv' 2>/dev/null; then
            $PY -m pip install -q --no-index --no-deps --no-compile \
                --no-cache-dir --upgrade --target /tmp/site \
                "$WHL_DIR"/*.whl || exit 2
        fi
        if ! $PY -c 'import xtcocotools' 2>/dev/null; then
            $PY -m pip install -q --no-index --no-deps --no-build-isolation \
                --no-cache-dir --target /tmp/site \
                "$WHL_DIR"/xtcocotools-*.tar.gz || exit 2
        fi
        $PY -c 'import torch, mmpose, sadinet_mmpose; print("torch",
torch.__version__, "mmpose", mmpose.__version__, "cuda",
torch.cuda.get_device_name())' || exit 2
        ;;
    tests)
        run gpu_tests 180 $PY -m pytest -q -m gpu -p no:cacheprovider tests
        ;;
    bench)
        run benchmark 330 $PY tools/benchmark.py --device cuda --batch 64 \
            --configs "Hourglass-52=$HG" "SADI-Net=$SADI" \
            --train-modes fp32,fp32+cl,bf16,bf16+cl \
            --infer-modes fp32,bf16+cl,bf16+cl+graph --latency-batches 1,64 \
            --out "$OUT_DIR/benchmarks.md" --json "$OUT_DIR/benchmarks.json"
        # training graphs in a run of their own (a failed capture cannot
        # spoil the numbers above), with the fp32 reference in the same run
        run benchmark_train_graph 170 $PY tools/benchmark.py --device cuda \
            --batch 64 --configs "Hourglass-52=$HG" "SADI-Net=$SADI" \
            --train-modes fp32,bf16+cl,bf16+cl+graph --infer-modes none \
            --out "$OUT_DIR/benchmarks_train_graph.md" \
            --json "$OUT_DIR/benchmarks_train_graph.json"
        ;;
    ladder)
        PHASE_CFG=$(derived_cfg phase "$SADI" \
            "model = dict(backbone=dict(branch_conv_cfg=dict(type='PhaseConv2d')))")
        run ladder 270 $PY tools/benchmark.py --device cuda --batch 64 --ladder \
            --configs "Hourglass-52=$HG" \
            "HG52-basic=$ABL/td-hm_hourglass52-basic_2xb32-210e_mpii-256x256.py" \
            "RFM=$ABL/td-hm_sadinet-rfm_2xb32-210e_mpii-256x256.py" \
            "SADI-Net=$SADI" "SADI-Net+phase=$PHASE_CFG" \
            --train-modes fp32,bf16+cl --infer-modes none \
            --out "$OUT_DIR/ladder.md" --json "$OUT_DIR/ladder.json"
        ;;
    convs)
        run convs 150 $PY tools/benchmark_convs.py --device cuda \
            --out "$OUT_DIR/convs.md" --json "$OUT_DIR/convs.json"
        ;;
    profile)
        run profile_fp32 100 $PY tools/profile_step.py --device cuda \
            --mode fp32 --rows 40 --parts --out "$OUT_DIR/profile_fp32.md"
        run profile_bf16cl 100 $PY tools/profile_step.py --device cuda \
            --mode bf16+cl --rows 40 --parts \
            --out "$OUT_DIR/profile_bf16cl.md"
        run profile_bf16cl_graph 100 $PY tools/profile_step.py --device cuda \
            --mode bf16+cl+graph --rows 25 \
            --out "$OUT_DIR/profile_bf16cl_graph.md"
        run profile_b1 90 $PY tools/profile_step.py --device cuda --infer \
            --batch 1 --mode bf16+cl+graph --steps 20 --rows 25 \
            --out "$OUT_DIR/profile_infer_b1.md"
        ;;
    check)
        run train_check 330 $PY tools/train_check.py "$SADI" --iters 200 \
            --precisions fp32,fp16,bf16 --work-dir /tmp/train_check \
            --data-root /tmp/synthetic_check --out "$OUT_DIR/train_check.md"
        # the same through MMPose's runner with training CUDA graphs
        GRAPH_CFG=$(derived_cfg train_graph "$FAST" \
            "model = dict(cuda_graph=dict(train=True))")
        run train_check_graph 150 $PY tools/train_check.py "$GRAPH_CFG" \
            --iters 200 --precisions bf16 --work-dir /tmp/train_check_graph \
            --data-root /tmp/synthetic_check \
            --out "$OUT_DIR/train_check_graph.md"
        ;;
    *)
        echo "unknown stage '$stage' (fetch install tests bench ladder convs profile check)" >&2
        exit 2
        ;;
    esac
done
exit $status
