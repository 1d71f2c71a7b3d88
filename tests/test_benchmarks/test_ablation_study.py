"""The controlled study: variants, statistics on known truth, pages from
records, bad input, and its smoke setting (records, resume, scratch)."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import BENCHMARKS, REPO, load_tool  # noqa: E402

ABLATION = osp.join(BENCHMARKS, 'ablation')
STUDY = osp.join(ABLATION, 'study.py')


def _study():
    return load_tool('study.py', ABLATION)


def _stats():
    return load_tool('stats.py', ABLATION)


def test_every_variant_builds_and_differs_from_the_base_in_one_part():
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    import sadinet_mmpose  # noqa: F401
    init_default_scope('mmpose')
    study = _study()
    variants = study.list_variants()
    for name in study.CORE_VARIANTS + ('a_zoo-hg-basic', 'd_rfm-d3'):
        assert name in variants, f'{name} missing from {sorted(variants)}'
    params = {}
    for name, path in variants.items():
        cfg = Config.fromfile(path)
        assert cfg.train_dataloader.dataset.difficulty == 'standard', name
        assert cfg.model.test_cfg.flip_test, f'{name}: flip test'
        assert cfg.codec['input_size'] == (128, 128), name
        model = MODELS.build(cfg.model)
        params[name] = sum(p.numel() for p in model.parameters())
        assert study.is_dlm(path) == (cfg.model.head.type == 'DLMHead'), name
    # the capacity controls: (h) at the RFM backbone's size, (h2) at the
    # full model's
    assert abs(params['h_hg-basic-wide'] / params['c_rfm-d2'] - 1) < 0.1
    assert abs(params['h2_hg-basic-wide-full'] / params['f2_sadinet-h1sum'] -
               1) < 0.02
    assert params['b_hg-basic'] < params['c_rfm-d2']


def test_pckh_from_errors_equals_mmpose_metric():
    """The bootstrap's PCKh is MMPose's mean PCKh on the same results."""
    load_tool('per_image.py', ABLATION)
    from mmpose.evaluation.functional.keypoint_eval import _calc_distances

    from sadinet_mmpose.evaluation import MpiiPCKhAccuracy
    stats = _stats()
    rng = np.random.default_rng(0)
    results = []
    for _ in range(40):
        gt = rng.uniform(0, 100, (1, 16, 2))
        head = rng.uniform(5, 15)
        mask = rng.random((1, 16)) > 0.2
        results.append(
            dict(
                pred_coords=gt + rng.normal(0, 0.3 * head, (1, 16, 2)),
                gt_coords=gt,
                mask=mask,
                head_size=np.array([[head, head]])))
    want = MpiiPCKhAccuracy().compute_metrics(results)
    errors = np.concatenate([
        _calc_distances(r['pred_coords'], r['gt_coords'], r['mask'],
                        r['head_size'].copy()).T for r in results
    ])
    assert stats.pckh(errors, 0.5) == pytest.approx(want['PCK'], abs=1e-6)
    assert stats.pckh(errors, 0.1) == pytest.approx(want['PCK@0.1'], abs=1e-4)


def _errors(rng, n, scale):
    e = np.abs(rng.normal(0, scale, (n, 16)))
    e[rng.random((n, 16)) < 0.1] = -1  # unlabelled joints
    return e


def test_paired_bootstrap_on_known_truth():
    stats = _stats()
    rng = np.random.default_rng(1)
    base = _errors(rng, 300, 0.3)
    # the same predictions: the difference and its interval are 0
    same = stats.paired_bootstrap([base] * 3, [base] * 3, 0.5)
    assert same['diff'] == 0 and same['lo'] == 0 and same['hi'] == 0
    assert stats.verdict(same) == 'not supported'
    # A halves every error of B: supported; the other way round: reversed
    better = np.where(base >= 0, base / 2, -1)
    ab = stats.paired_bootstrap([better] * 3, [base] * 3, 0.5)
    assert ab['diff'] > 0 and ab['lo'] > 0
    assert stats.verdict(ab) == 'supported'
    assert stats.verdict(stats.paired_bootstrap([base], [better], 0.5)) \
        == 'reversed'
    # seeds that disagree widen the interval: two models, each a mixture
    # of a good and a bad seed, are not told apart
    worse = np.where(base >= 0, base * 2, -1)
    mixed = stats.paired_bootstrap([better, worse], [worse, better], 0.5)
    assert mixed['lo'] < 0 < mixed['hi']
    # the interval covers the seed spread, not only the image spread
    img_only = stats.paired_bootstrap([better], [worse], 0.5)
    assert (mixed['hi'] - mixed['lo']) > (img_only['hi'] - img_only['lo'])
    with pytest.raises(ValueError, match='same test images'):
        stats.paired_bootstrap([base], [base[:200]], 0.5)


def test_paired_bootstrap_is_symmetric_in_its_models():
    """A against B mirrors B against A, also when only one model's seeds
    disagree: both models' seeds are resampled."""
    stats = _stats()
    rng = np.random.default_rng(2)
    base = _errors(rng, 300, 0.3)
    steady = [base] * 3  # three seeds that agree
    spread = [np.where(base >= 0, base * f, -1) for f in (0.6, 1.0, 1.6)]
    ab = stats.paired_bootstrap(steady, spread, 0.5)
    ba = stats.paired_bootstrap(spread, steady, 0.5)
    assert ab['diff'] == pytest.approx(-ba['diff'])
    assert ab['lo'] == pytest.approx(-ba['hi'], abs=0.4)
    assert ab['hi'] == pytest.approx(-ba['lo'], abs=0.4)
    # the seed spread of B shows in both directions
    img_only = stats.paired_bootstrap([base], [spread[1]], 0.5)
    width = img_only['hi'] - img_only['lo']
    assert ab['hi'] - ab['lo'] > 1.5 * width
    assert ba['hi'] - ba['lo'] > 1.5 * width


def test_late_gain_on_known_curves():
    stats = _stats()
    assert stats.late_gain([(0, 50.), (800, 90.), (1000, 90.2)]) == \
        pytest.approx(0.2)
    climbing = [(i, i / 10) for i in range(0, 1001, 100)]
    assert stats.late_gain(climbing) == pytest.approx(20.)
    assert stats.late_gain([(10, 1.)]) is None
    assert stats.mean_curve([[(1, 2.), (2, 4.)], [(1, 4.), (2, 6.)]]) == \
        [(1, 3.), (2, 5.)]
    # the gap of two curves that climb together holds still; a gap that
    # opens shows as drift; only common iterations are compared
    a = [(i, 90. + i / 100) for i in range(0, 1001, 100)]
    b = [(i, 88. + i / 100) for i in range(0, 1001, 200)]
    assert stats.gap_curve(a, b) == [(i, pytest.approx(2.))
                                     for i in range(0, 1001, 200)]
    assert stats.late_gain(stats.gap_curve(a, b)) == pytest.approx(0.)
    assert stats.late_gain(stats.gap_curve(a, [(i, 90.) for i, _ in a])) \
        == pytest.approx(2.)


def _record(variant, seed, pck, errors, iters=630, status='ok'):
    m = {
        'Head PCK': pck,
        'Shoulder PCK': pck,
        'Elbow PCK': pck,
        'Wrist PCK': pck,
        'Hip PCK': pck,
        'Knee PCK': pck,
        'Ankle PCK': pck,
        'PCK': pck,
        'PCK@0.1': pck / 2
    }
    rec = dict(
        format='sadinet-study-run-v1',
        variant=variant,
        seed=seed,
        status=status,
        commit='abc1234',
        device='cpu',
        settings=dict(
            iters=iters,
            train_images=8,
            batch_size=4,
            val_images=2,
            test_images=2,
            val_every=1,
            epochs=2))
    if status == 'ok':
        rec.update(
            val_curve=[[iters // 2, pck - 5, 1.], [iters, pck, 2.]],
            iter_s_median=1.0,
            train_s=60.,
            eval=dict(
                params_M=1.0,
                gmacs=0.1,
                errors={'test/h1': errors.tolist()},
                **{'test/h1': m}))
    else:
        rec['message'] = f'{variant} seed {seed}: loss became NaN/inf'
    return rec


def test_pages_from_records_with_a_failed_run(tmp_path):
    study = _study()
    report = load_tool('report.py', ABLATION)
    rng = np.random.default_rng(2)
    base = _errors(rng, 50, 0.3)
    records = [
        _record('b_hg-basic', 0, 50., base),
        _record('b_hg-basic', 1, 60., base),
        _record('f2_sadinet-h1sum', 0, 70., base / 2),
        _record('f2_sadinet-h1sum', 1, 0., None, status='diverged'),
        _record('b_hg-basic', 0, 40., base, iters=100),
    ]
    # f2 pulls away from b late in training: its gap to b's mean curve
    # goes 10 -> 15 (PCKh@0.5) and 0 -> 1 (PCKh@0.1) over the second half
    records[2]['val_curve'] = [[315, 60., 1.], [630, 70., 3.]]
    report.render(
        str(tmp_path), records, study.list_variants(), study.describe)
    text = (tmp_path / 'ablation.md').read_text()
    assert '| b_hg-basic | 1.00 | 0.100 | 2 | 55.0 ± 7.1 |' in text, text
    assert 'f2_sadinet-h1sum seed 1: loss became NaN/inf' in text
    row = [
        ln for ln in text.splitlines()
        if ln.startswith('| full SADI-Net beats the plain hourglass |')
    ]
    assert row and row[0].startswith(
        '| full SADI-Net beats the plain hourglass | f2_sadinet-h1sum '
        '| b_hg-basic | 1/2 | 1.00 / 1.00 | 4 / 4 |'), text
    # the drift of the gap over the last 20 %, interpolated at 504 of 630
    cells = [c.strip() for c in row[0].split('|')]
    assert cells[9] == '+2.00' and cells[12] == '+0.40', row
    # PCKh@0.1 validation curve: 1 -> 2 over the second half of the run
    assert '| +2.00 (climbing) | +0.40 | 4 |' in text, text
    assert '## Budgets' in text and '| 100 it | 630 it |' in text
    # four finished runs of 60 s each; the diverged run records no time
    assert 'Run time in the records: 5 runs, 0.07 h of training' in text, text
    # b's PCKh@0.5 curves gain 2 points over their last 20 % at both budgets
    # (climbing), their PCKh@0.1 curves 0.4 (flat from the first budget)
    assert ('| b_hg-basic | 40.0 (1), gain +2.00 / +0.40 | 55.0 (2), gain '
            '+2.00 / +0.40 | not by 630 it | 100 it |') in text, text
    assert text.count('| not by 630 it | not by 630 it |') == 1, text
    data = json.loads((tmp_path / 'ablation.json').read_text())
    assert data['flat_from']['b_hg-basic'] == {
        'PCKh@0.5': None,
        'PCKh@0.1': 100
    }
    comp = data['comparisons'][0]
    assert comp['PCKh@0.5']['lo'] <= comp['PCKh@0.5']['diff'] <= \
        comp['PCKh@0.5']['hi']
    assert (tmp_path / 'ablation.png').stat().st_size > 1000


def test_unknown_variant_and_budget_are_refused_before_training(tmp_path):
    for extra, want in ((['--variants', 'nope'], 'unknown variant'),
                        (['--budget-min', '0.5'], 'exceeds --budget-min')):
        proc = subprocess.run(
            [sys.executable, STUDY, '--out-dir',
             str(tmp_path), *extra],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert want in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / 'ablation.json').exists()
    assert not (tmp_path / 'study_runs').exists()


def test_hard_pages_are_not_rendered_without_the_tags(tmp_path):
    page = tmp_path / 'ablation.md'
    page.write_text('the committed page')
    proc = subprocess.run([
        sys.executable, STUDY, '--difficulty', 'hard', '--render', '--out-dir',
        str(tmp_path), '--data-root',
        str(tmp_path / 'no_data')
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert 'no_data/test/tags.json is missing' in proc.stderr, proc.stderr
    assert page.read_text() == 'the committed page'


def test_threads_per_run_share_out_the_cpus_the_study_may_use(monkeypatch):
    study = _study()
    for cpus, jobs, device, want in (({0, 1}, 2, 'cpu', '1'), ({1}, 1, 'cpu',
                                                               '1'),
                                     (set(range(8)), 2, 'cuda',
                                      '4'), ({0, 1}, 4, 'cpu', '1')):
        monkeypatch.setattr(
            os, 'sched_getaffinity', lambda pid: cpus, raising=False)
        args = study.argparse.Namespace(jobs=jobs, device=device)
        env = study.run_env(args)
        assert env['OMP_NUM_THREADS'] == env['MKL_NUM_THREADS'] == want
        assert (env.get('CUDA_VISIBLE_DEVICES') == '') == (device == 'cpu')


def _committed_pages():
    return {
        p: os.stat(osp.join(BENCHMARKS, 'results', p)).st_mtime_ns
        for p in ('ablation.md', 'ablation.json', 'ablation.png')
        if osp.exists(osp.join(BENCHMARKS, 'results', p))
    }


def _run(args, timeout=1500):
    proc = subprocess.run([sys.executable, STUDY, *args],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          timeout=timeout)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


@pytest.mark.slow
def test_smoke_setting_records_resumes_and_leaves_results_alone(tmp_path):
    before = _committed_pages()
    out = _run(['--smoke', '--device', 'cpu', '--jobs', '2'])
    # the default output is a new temporary folder, never the committed one
    assert _committed_pages() == before
    line = [ln for ln in out.splitlines() if ln.startswith('[study] wrote')]
    smoke_dir = line[0].split()[2].rsplit('/ablation.md', 1)[0]
    assert smoke_dir != osp.join(BENCHMARKS, 'results')
    assert sorted(os.listdir(smoke_dir)) == [
        'ablation.json', 'ablation.md', 'ablation.png', 'study_runs'
    ]
    # the records: curves, per-image errors, the decode sources of f2
    rec = json.loads(
        open(
            osp.join(smoke_dir, 'study_runs', 'f2_sadinet-h1sum',
                     'it4_seed0.json')).read())
    assert rec['status'] == 'ok' and len(rec['val_curve']) == 2
    assert len(rec['eval']['errors']['test/h1']) == 8
    assert {'test/h1', 'test/mu', 'val/blend'} <= set(rec['eval'])
    assert 'grad_ratio_first' in rec
    shutil.rmtree(smoke_dir)

    # a run cut off after its first epoch resumes from its checkpoint
    out_dir = str(tmp_path)
    _run([
        '--smoke', '--out-dir', out_dir, '--variants', 'b_hg-basic',
        '--keep-work'
    ])
    work = tmp_path / 'work' / 'b_hg-basic' / 'it4_seed0'
    (tmp_path / 'study_runs' / 'b_hg-basic' / 'it4_seed0.json').unlink()
    (work / 'epoch_2.pth').unlink()
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    out = _run(['--smoke', '--out-dir', out_dir, '--variants', 'b_hg-basic'])
    assert '1 runs to do (0 recorded)' in out
    rec = json.loads((tmp_path / 'study_runs' / 'b_hg-basic' /
                      'it4_seed0.json').read_text())
    assert rec['status'] == 'ok' and rec['resumed_from'] == 'epoch_1.pth'
    assert [p[0] for p in rec['val_curve']] == [2, 4]
    # the scratch folders of a successful smoke run are gone
    assert not (tmp_path / 'work').exists()
    assert not (tmp_path / 'data').exists()
    # a finished run's record is reused
    out = _run(['--smoke', '--out-dir', out_dir, '--variants', 'b_hg-basic'])
    assert '0 runs to do (1 recorded)' in out


def test_records_of_a_tier_never_replace_another_tiers(tmp_path):
    study = _study()
    args = study.argparse.Namespace(
        smoke=False,
        epochs=30,
        train_images=2000,
        val_images=500,
        test_images=2000,
        val_every=3,
        difficulty='hard')
    hard = study.settings(args)
    hard['train_persons'] = 3100
    hard['iters'] = study.iters_of(hard)
    args.difficulty, args.val_images, args.test_images = 'standard', 300, 300
    std = study.settings(args)
    # the standard settings are what every committed record carries
    assert 'difficulty' not in std and std['iters'] == 1890
    assert hard['difficulty'] == 'hard' and hard['iters'] == 97 * 30
    p_std = study.record_path(str(tmp_path), 'b_hg-basic', 0, std)
    p_hard = study.record_path(
        str(tmp_path), 'b_hg-basic', 0, dict(hard, iters=1890))
    assert p_std.endswith(osp.join('b_hg-basic', 'it1890_seed0.json'))
    assert p_hard.endswith(osp.join('b_hg-basic', 'hard_it1890_seed0.json'))
    for path, s in ((p_std, std), (p_hard, dict(hard, iters=1890))):
        study.write_json_atomic(
            path,
            dict(
                format=study.RECORD_FORMAT,
                variant='b_hg-basic',
                seed=0,
                settings=s,
                status='ok'))
    assert len(study.load_records(str(tmp_path))) == 2
    assert [
        study.tier_of(r)
        for r in study.load_records(str(tmp_path), 'standard')
    ] == ['standard']
    assert [
        r['settings']['iters']
        for r in study.load_records(str(tmp_path), 'hard')
    ] == [1890]
    assert study.default_out('standard') == osp.join(BENCHMARKS, 'results')
    assert study.default_out('hard') == osp.join(BENCHMARKS, 'results', 'hard')
    assert study.default_data('hard') != study.default_data('standard')


def test_committed_standard_records_are_all_standard():
    study = _study()
    recs = study.load_records(osp.join(BENCHMARKS, 'results'))
    assert recs and all(study.tier_of(r) == 'standard' for r in recs)


@pytest.mark.slow
def test_hard_smoke_records_the_tier_and_the_taxonomy(tmp_path):
    out_dir = str(tmp_path)
    _run([
        '--smoke', '--out-dir', out_dir, '--variants', 'b_hg-basic',
        '--difficulty', 'hard'
    ])
    (path, ) = list((tmp_path / 'study_runs' / 'b_hg-basic').iterdir())
    assert path.name.startswith('hard_it')
    assert path.name.endswith('_seed0.json')
    rec = json.loads(path.read_text())
    assert rec['settings']['difficulty'] == 'hard'
    assert rec['settings']['tier_version'].startswith('hard-')
    assert rec['runtime']['threads'] >= 1 and 'optim_wrapper' in rec['runtime']
    assert rec['settings']['train_persons'] > 32
    test = rec['eval']['test/h1']
    assert {
        'taxonomy/good', 'taxonomy/inversion', 'taxonomy/swap',
        'taxonomy/PCKh@0.5 overlapped'
    } <= set(test)
    assert len(rec['eval']['classes']['test/h1']) == len(
        rec['eval']['errors']['test/h1'])


def _calibration_record(pckh, inversion, curve):
    from sadinet_mmpose.datasets.synthetic_hard import TAG_NAMES
    classes = ('good', 'jitter', 'inversion', 'swap', 'miss')
    groups = ('Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle')
    test = {
        'PCK': pckh,
        'PCK@0.1': 20.,
        'taxonomy/joints': 1000.,
        'taxonomy/PCKh@0.5 untagged': pckh + 5,
        'taxonomy/untagged joints': 500.
    }
    shares = dict(
        good=pckh - 10,
        jitter=10.,
        inversion=inversion,
        swap=1.,
        miss=100 - pckh - inversion - 1)
    for c in classes:
        test[f'taxonomy/{c}'] = shares[c]
        for g in groups:
            test[f'taxonomy/{g} {c}'] = shares[c]
        for t in TAG_NAMES:
            test[f'taxonomy/{t} {c}'] = shares[c]
    for t in TAG_NAMES:
        test[f'taxonomy/PCKh@0.5 {t}'] = pckh - 10
        test[f'taxonomy/{t} joints'] = 100.
    return dict(
        variant='b_hg-basic',
        seed=0,
        status='ok',
        commit='abc',
        settings=dict(
            epochs=30,
            train_images=2000,
            val_images=500,
            test_images=2000,
            batch_size=32,
            val_every=3,
            difficulty='hard',
            iters=2940,
            train_persons=3100),
        val_curve=[(i, v, v / 3) for i, v in curve],
        eval={'test/h1': test})


@pytest.mark.parametrize(
    'pckh,inversion,curve,accepted',
    [
        (85., 3., [(980, 70.), (1960, 84.), (2940, 84.3)], True),
        (85., 1., [(980, 70.), (1960, 84.), (2940, 84.3)], False),  # few inv.
        (92., 3., [(980, 70.), (1960, 91.), (2940, 91.2)], False),  # too easy
        (85., 3., [(980, 60.), (1960, 75.), (2940, 84.)], False),  # climbing
    ])
def test_tier_calibration_page_applies_the_acceptance(tmp_path, pckh,
                                                      inversion, curve,
                                                      accepted):
    cal = load_tool('tier_calibration.py', ABLATION)
    doc = cal.render(
        str(tmp_path), [_calibration_record(pckh, inversion, curve)])
    run = doc['runs'][-1]
    assert run['accepted'] is accepted
    page = (tmp_path / 'calibration.md').read_text()
    assert '| 2940 | 0 | abc |' in page
    assert ('| yes |' if accepted else '| no |') in page.splitlines()[14]
    assert (tmp_path / 'calibration.png').stat().st_size > 1000


def test_claims_by_tag_and_error_class_on_known_truth(tmp_path):
    """(f2) - (k): A misses nothing; B swaps joints 0-3 of every person and
    misses the two 'lookalike' joints (0, 1) by 0.9 head sizes. The detail
    table gives PCKh@0.5 +100 on the tag and -4/14 of the joints swapped,
    with intervals that hold only those values."""
    study = _study()
    report = load_tool('report.py', ABLATION)
    n, k = 40, 16
    err_a = np.full((n, k), 0.1)
    err_b = err_a.copy()
    err_b[:, :2] = 0.9
    cls_a = np.zeros((n, k), int)
    cls_b = cls_a.copy()
    cls_b[:, :4] = 3
    lookalike = np.zeros((n, k), int)
    lookalike[:, :2] = 1
    records = []
    for seed in (0, 1):
        for name, err, cls in (('f2_sadinet-h1sum', err_a, cls_a),
                               ('k_sadinet-chi-constant', err_b, cls_b)):
            rec = _record(name, seed, 80., err)
            rec['eval']['classes'] = {'test/h1': cls.tolist()}
            records.append(rec)
    report.render(
        str(tmp_path),
        records,
        study.list_variants(),
        study.describe,
        tags={'lookalike': lookalike.tolist()})
    comp = json.loads((tmp_path / 'ablation.json').read_text())['comparisons']
    claim = [c for c in comp if c['b'] == 'k_sadinet-chi-constant']
    assert len(claim) == 1, 'the constant-weight claim is rendered'
    tag = claim[0]['tags']['lookalike']
    assert tag['diff'] == pytest.approx(100.) and tag['lo'] > 99.9
    swap = claim[0]['classes']['swap']
    assert swap['diff'] == pytest.approx(-400. / 14)
    assert swap['hi'] == pytest.approx(-400. / 14)
    assert claim[0]['classes']['miss']['diff'] == 0.
    text = (tmp_path / 'ablation.md').read_text()
    assert '### The claims by difficulty tag and by error class' in text
    row = [
        ln for ln in text.splitlines()
        if ln.startswith('| chi weighting beats a constant weight')
    ][-1]
    assert '+100.0 [+100.0, +100.0]' in row and '-28.6 [-28.6, -28.6]' in row
