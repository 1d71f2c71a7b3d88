#!/usr/bin/env python
"""Mutation check: do the quick tests catch the bugs that matter?

    python tests/mutations.py                  # every mutation
    python tests/mutations.py --only pckh-plus-one bootstrap-one-sided
    python tests/mutations.py --out mutations.md

Each mutation is a one-line change of the project that a real bug could
make. For each, the repository is copied to a temporary folder, the line is
changed there, and the named tests run on the copy (``-m "not slow"``,
stopping at the first failure). A mutation is *killed* when those tests
fail; one that survives is a gap in the suite and is reported. The working
tree is never touched. Not part of the suite (it takes minutes).
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
_SKIP = {'.git', '.venv', 'work_dirs', '__pycache__', '.pytest_cache'}


def IGNORE(folder, names):
    """What the copy leaves out: the environment, git, scratch, and the
    generated data at the top (``tests/data`` is copied)."""
    top = osp.abspath(folder) == REPO
    return {
        n
        for n in names
        if n in _SKIP or n.endswith('.egg-info') or (top and n == 'data')
    }


#: (name, file, line as it is, line as mutated, tests that must fail)
MUTATIONS = (
    ('pckh-plus-one',
     'sadinet_mmpose/evaluation/metrics/mpii_pckh_accuracy.py',
     "dict(r, pred_coords=r['pred_coords'] - 1.0) for r in results",
     "dict(r, pred_coords=r['pred_coords'] - 0.0) for r in results",
     'tests/test_evaluation/test_mpii_pckh_accuracy.py'),
    ('pckh-auc-nine-thresholds',
     'sadinet_mmpose/evaluation/metrics/mpii_pckh_accuracy.py',
     'np.arange(1, 11) * 0.05', 'np.arange(1, 10) * 0.05',
     'tests/test_evaluation/test_mpii_pckh_accuracy.py'),
    ('calibrate-on-sigma-x1000', 'tools/calibrate_sigma.py',
     "fit = fit_sigma_calibration(err, data['sigma'], data['visible'])",
     "fit = fit_sigma_calibration(err, data['sigma'] * 1000, "
     "data['visible'])", 'tests/test_tools/test_calibrate_sigma.py::'
     'test_tool_writes_a_new_checkpoint_and_never_overwrites'),
    ('probability-geometric-mean',
     'sadinet_mmpose/evaluation/functional/sigma_distribution.py',
     'sx, sy = sig[..., 0], sig[..., 1]',
     'sx = sy = np.sqrt(sig[..., 0] * sig[..., 1])',
     'tests/test_evaluation/test_sigma_calibration.py'),
    ('bootstrap-one-sided', 'benchmarks/ablation/stats.py',
     'sb = rng.integers(0, len(cb), len(cb))', 'sb = np.arange(len(cb))',
     'tests/test_benchmarks/test_ablation_study.py'),
    ('merge-centre-msra-grid',
     'sadinet_mmpose/models/pose_estimators/ms_topdown.py',
     "heatmap_grid(decoder), ms['use_udp'])", "'msra', ms['use_udp'])",
     'tests/test_models/test_pose_estimators/test_ms_topdown.py'),
    ('flip-back-heatmap-shifted', 'sadinet_mmpose/codecs/merging.py',
     'out[..., 1:] = _copy(out[..., :-1])',
     'out[..., 1:] = _copy(out[..., :-1]) if shift else out[..., 1:]\n'
     '    out[..., 1:] = _copy(out[..., :-1])',
     'tests/test_codecs/test_merging.py'),
    ('rng-resume-skips-numpy', 'sadinet_mmpose/engine/hooks/rng_state.py',
     "np.random.set_state(state['numpy'])", 'pass',
     'tests/test_engine/test_rng_state.py'),
    ('taxonomy-inversion-as-swap',
     'sadinet_mmpose/evaluation/metrics/error_taxonomy.py',
     'codes[mirror_ok & (mirror < near_thr)] = 2',
     'codes[mirror_ok & (mirror < near_thr)] = 3',
     'tests/test_evaluation/test_error_taxonomy.py'),
    ('taxonomy-swap-across-images',
     'sadinet_mmpose/evaluation/metrics/error_taxonomy.py',
     'members[key].append(i)', "members['all'].append(i)",
     'tests/test_evaluation/test_error_taxonomy.py'),
    ('hard-lookalike-radius', 'sadinet_mmpose/datasets/synthetic_hard.py',
     'lookalike = (mirror_d <= 0.5 * hs) & (',
     'lookalike = (mirror_d <= 1.0 * hs) & (',
     'tests/test_datasets/test_synthetic_hard.py'),
    ('standard-tier-drawn-otherwise', 'sadinet_mmpose/datasets/synthetic.py',
     't_arm = max(2, int(U * rng.uniform(0.045, 0.06)))',
     't_arm = max(2, int(U * rng.uniform(0.045, 0.061)))',
     'tests/test_datasets/test_synthetic_hard.py'),
    ('export-overwrites-out', 'tools/deploy/export_onnx.py',
     '        if osp.exists(out):', '        if False:',
     'tests/test_deploy/test_export_onnx.py'),
    ('main-reuses-a-users-folder', 'tools/main.py',
     'or os.listdir(candidate)):',
     "or glob.glob(osp.join(candidate, '*.pth'))):",
     'tests/test_tools/test_main_command.py'),
    ('checkpoint-half-fit-accepted', 'sadinet_mmpose/engine/checkpoint_fit.py',
     "if fit['fit'] != fit['total'] or fit['unexpected']:",
     "if fit['fit'] * 2 < fit['total']:",
     'tests/test_deploy/test_export_onnx.py'),
    ('runtime-box-off-image-accepted', 'sadinet_mmpose/deploy/preprocess.py',
     'if x2 <= 0 or y2 <= 0 or x1 >= W or y1 >= H:', 'if False:',
     'tests/test_deploy/test_runtime.py'),
    ('skipped-count-not-reported',
     'sadinet_mmpose/datasets/safe_mpii_dataset.py',
     "self._metainfo['skipped_records'] = int(skipped.count)", 'pass',
     'tests/test_datasets/test_safe_mpii_dataset.py'),
    ('lsp-neck-from-thorax',
     'configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_lsp-256x256.py',
     '(11, 7), (12, 8), (13, 9), (14, 10), (15, 11), (8, 12), (9, 13)]',
     '(11, 7), (12, 8), (13, 9), (14, 10), (15, 11), (7, 12), (9, 13)]',
     'tests/test_configs/test_configs.py'),
)


def apply(root, path, old, new):
    """Change the one line holding ``old`` in ``root/path``."""
    full = osp.join(root, path)
    with open(full) as f:
        src = f.read()
    if src.count(old) != 1:
        raise SystemExit(f'mutation check: {path} holds {src.count(old)} '
                         f'copies of {old!r}, expected 1: update the list')
    with open(full, 'w') as f:
        f.write(src.replace(old, new))


def run_one(name, path, old, new, tests, python):
    with tempfile.TemporaryDirectory(prefix=f'mutant-{name}-') as tmp:
        root = osp.join(tmp, 'repo')
        shutil.copytree(REPO, root, ignore=IGNORE, symlinks=True)
        if path is not None:
            apply(root, path, old, new)
        env = dict(os.environ, PYTHONPATH=root)
        t0 = time.time()
        proc = subprocess.run([
            python, '-m', 'pytest', '-q', '-x', '-m', 'not slow', '-p',
            'no:cacheprovider', *tests.split()
        ],
                              cwd=root,
                              env=env,
                              capture_output=True,
                              text=True)
        tail = (proc.stdout.strip().splitlines() or [''])[-1]
        # exit 1: a test failed (killed); 0: all passed (survived);
        # anything else: the run itself broke
        status = {
            0: 'SURVIVED',
            1: 'killed'
        }.get(proc.returncode, f'error {proc.returncode}')
        return status, tail, time.time() - t0


def main(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument('--only', nargs='+', default=None, help='mutation names')
    p.add_argument('--out', default=None, help='also write the table here')
    args = p.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m[0] in args.only]
    # the same tests on an unchanged copy must pass, or a kill means nothing
    tests = ' '.join(sorted({m[4] for m in chosen}))
    status, tail, dt = run_one('baseline', None, None, None, tests,
                               sys.executable)
    print(f'baseline (no mutation): {tail} ({dt:.0f} s)', flush=True)
    if status != 'SURVIVED':
        raise SystemExit('mutation check: the tests fail without any '
                         'mutation; fix them first')
    rows = [
        '| mutation | file | tests that must fail | result | pytest |',
        '| --- | --- | --- | --- | --- |'
    ]
    survived = 0
    for name, path, old, new, tests in chosen:
        status, tail, dt = run_one(name, path, old, new, tests, sys.executable)
        survived += status != 'killed'
        rows.append(f'| {name} | `{path}` | `{tests}` | {status} | '
                    f'{tail} ({dt:.0f} s) |')
        print(rows[-1], flush=True)
    text = '\n'.join(rows) + (f'\n\n{len(chosen) - survived} of '
                              f'{len(chosen)} mutations killed.\n')
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    return 0 if survived == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
