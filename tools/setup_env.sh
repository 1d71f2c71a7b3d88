#!/usr/bin/env bash
# One-command setup of sadinet-mmpose on a fresh machine.
#
#   bash tools/setup_env.sh            # creates ./.venv with the whole stack
#   source .venv/bin/activate
#
# What it installs (see requirements.txt for the pinned set and why):
#   torch + torchvision (matching PyPI builds), mmengine 0.10.7, mmcv-lite 2.1.0,
#   mmdet 3.3.0, xtcocotools built against numpy 2, mmpose 1.3.2 without chumpy,
#   setuptools < 81, onnx + onnxruntime (CPU) for the ONNX export and runtime,
#   openmim (the `mim` command) without opendatalab, and this
#   package in editable mode with its test and lint tools (pytest, flake8,
#   isort, yapf).
#
# Options (environment variables):
#   SADINET_VENV=PATH     where the environment goes (default: <repo>/.venv)
#   PYTHON=python3.11     the interpreter to build it from (default: python3)
#   SADINET_FULL_MMCV=1   keep an mmcv with compiled ops instead of mmcv-lite
#                         (for users who built full mmcv; see README)
#
# Idempotent: a finished environment carries a stamp of the inputs it was made
# from; when the stamp matches and the stack imports, the script says so and
# exits without touching anything. An environment without a stamp (an earlier
# run that was interrupted or failed) is never taken for a good one: it is
# rebuilt from scratch.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SADINET_VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"
FULL_MMCV="${SADINET_FULL_MMCV:-0}"
STAMP="$VENV/.sadinet-setup-stamp"
OWNER="$VENV/.sadinet-venv"
T0=$(date +%s)

say()  { printf '[setup] %s\n' "$*"; }
fail() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks ---
command -v "$PYTHON" >/dev/null 2>&1 || fail "no '$PYTHON' on PATH; install Python 3.9-3.12 (3.11 is tested) or set PYTHON=/path/to/python3.11"
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
case "$PYVER" in
  3.9|3.10|3.11|3.12) ;;
  *) fail "Python $PYVER is not supported: torch 2.15 / mmengine 0.10.7 / mmpose 1.3.2 need Python 3.9-3.12 (3.11 is tested). Set PYTHON=/path/to/python3.11";;
esac
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || fail "Python $PYVER lacks the 'venv'/'ensurepip' modules (Debian: apt-get install python3-venv)"

STAMP_VALUE="$( (cat "$REPO/requirements.txt" "$REPO/tools/setup_env.sh" "$REPO/setup.py"; echo "python=$PYVER full_mmcv=$FULL_MMCV") | sha256sum | cut -d' ' -f1)"

verify() {
  "$VENV/bin/python" - <<'EOF'
import sadinet_mmpose  # noqa: F401  (installs the mmcv-lite op placeholders first)
import mmpose.models  # noqa: F401
import mmdet, mmengine, mmcv, torch, torchvision, xtcocotools, numpy  # noqa: F401,E401
import onnx, onnxruntime  # noqa: F401,E401  (ONNX export and runtime)
import flake8, isort, yapf  # noqa: F401,E401  (lint tools)
import pkg_resources  # noqa: F401  (mmengine's mmpose:: config scopes need it)
print('[setup] stack: torch %s, torchvision %s, numpy %s, mmengine %s, mmcv %s, mmdet %s, mmpose %s, sadinet_mmpose %s' % (
    torch.__version__, torchvision.__version__, numpy.__version__, mmengine.__version__,
    mmcv.__version__, mmdet.__version__, mmpose.__version__, sadinet_mmpose.__version__))
EOF
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_VALUE" ]]; then
  if verify 2>/dev/null; then
    say "environment $VENV is up to date; nothing to do ($(( $(date +%s) - T0 )) s)"
    say "activate it with: source ${VENV#$REPO/}/bin/activate"
    exit 0
  fi
  say "environment $VENV has a stamp but does not import: rebuilding it"
fi

if [[ -e "$VENV" ]]; then
  if [[ ! -f "$OWNER" ]]; then
    fail "$VENV exists and was not made by this script; move it away or set SADINET_VENV to another path (nothing was changed)"
  fi
  if [[ -f "$STAMP" ]]; then
    say "inputs changed since $VENV was built: updating it in place"
  else
    say "$VENV is unfinished (an earlier run stopped): removing it and starting again"
    rm -rf "$VENV"
  fi
fi

# The registry must be reachable before anything is built.
say "checking that the package registry is reachable"
PROBE="$(mktemp -d)"
trap 'rm -rf "$PROBE"' EXIT
if ! timeout 120 "$PYTHON" -m pip download -q --no-deps --disable-pip-version-check -d "$PROBE" "mmengine==0.10.7" >"$PROBE/log" 2>&1; then
  cat "$PROBE/log" >&2 || true
  fail "cannot download 'mmengine==0.10.7' from the package registry (PyPI). Check the network / proxy / PIP_INDEX_URL; nothing was installed"
fi

# ---------------------------------------------------------------- build ----
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtual environment $VENV (Python $PYVER)"
  "$PYTHON" -m venv "$VENV"
  echo "made by sadinet-mmpose tools/setup_env.sh" > "$OWNER"
fi
rm -f "$STAMP"   # unfinished until the very end
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

step() { say "$1"; shift; "$@" || fail "step failed: ${*}"; }

step "upgrading pip / installing build tools" "${PIP[@]}" install -q --upgrade pip "setuptools>=77.0.3,<81" wheel
REQ="$REPO/requirements.txt"
if [[ "$FULL_MMCV" == "1" ]]; then
  "$VENV/bin/python" -c 'import mmcv._ext' 2>/dev/null || fail "SADINET_FULL_MMCV=1 but $VENV has no mmcv with compiled ops; build it first: MMCV_WITH_OPS=1 FORCE_CUDA=0 $VENV/bin/pip install --no-build-isolation mmcv==2.1.0"
  REQ="$(mktemp)"; grep -v '^mmcv-lite' "$REPO/requirements.txt" > "$REQ"
fi
step "installing torch, torchvision, mmengine, mmcv(-lite), mmdet and friends (requirements.txt)" \
  "${PIP[@]}" install -q -r "$REQ"
if ! "$VENV/bin/python" -c 'import xtcocotools._mask' 2>/dev/null; then
  step "building xtcocotools 1.14.3 from source against numpy 2" \
    "${PIP[@]}" install -q --no-build-isolation --no-binary xtcocotools "xtcocotools==1.14.3"
fi
step "installing mmpose 1.3.2 without chumpy" "${PIP[@]}" install -q --no-deps "mmpose==1.3.2"
step "installing openmim 0.3.9 (mim) without opendatalab/openxlab" "${PIP[@]}" install -q --no-deps "openmim==0.3.9"
step "installing sadinet_mmpose (editable) with test tools" "${PIP[@]}" install -q --no-build-isolation --no-deps -e "$REPO"
step "installing test and lint tools" "${PIP[@]}" install -q "pytest>=8" "pytest-timeout>=2.3" "flake8==7.5.0" "isort==5.13.2" "yapf==0.43.0"
# Stock MMPose scripts that import mmpose before reading a config (get_flops,
# image_demo) need the mmcv-lite placeholders at start-up: a .pth hook that
# only registers a lazy import hook (see sadinet_mmpose/compat/mmcv_lite_boot.py).
if [[ "$FULL_MMCV" != "1" ]]; then
  SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  say "adding the mmcv-lite start-up hook $SITE/sadinet_mmcv_lite.pth"
  HOOK="$REPO/sadinet_mmpose/compat/mmcv_lite_boot.py"
  echo "import os, sys; f = '$HOOK'; os.path.exists(f) and exec(compile(open(f).read(), f, 'exec'), {'__name__': 'sadinet_mmcv_boot', '__file__': f})" \
    > "$SITE/sadinet_mmcv_lite.pth"
fi
# Some dependency may pull a newer setuptools; mmengine needs pkg_resources.
step "pinning setuptools below 81" "${PIP[@]}" install -q "setuptools>=77.0.3,<81"

say "verifying the stack imports"
verify || fail "the environment was built but does not import; see the traceback above"
echo "$STAMP_VALUE" > "$STAMP"
say "done in $(( $(date +%s) - T0 )) s. Activate with: source ${VENV#$REPO/}/bin/activate"
