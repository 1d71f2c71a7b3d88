"""The candidate-uncertainty measurement: known-truth statistics and one run
on a trained tiny model."""
import json
import os.path as osp

import numpy as np
import pytest

from helpers import BENCHMARKS, load_tool  # noqa: E402


def _bench():
    return load_tool('uncertainty_candidates.py', BENCHMARKS)


def _split(rng, n, k=16):
    """Errors drawn from per-joint Gaussians whose scale ``sigma`` knows the
    truth; ``peak`` is one constant (no information), the heatmap score is
    noise."""
    gt = rng.uniform(50, 150, (n, k, 2))
    true = rng.uniform(0.5, 6., (n, k, 1)) * np.ones(2)
    kp = gt + true * rng.standard_normal((n, k, 2))
    return dict(
        kp=kp,
        gt=gt,
        visible=np.ones((n, k), bool),
        head=np.full(n, 20.),
        score=rng.uniform(size=(n, k)),
        sigma=true * 0.5,  # off by a factor: the calibration finds it
        peak=np.full((n, k, 2), 3.),
        off=np.zeros((n, k, 2)))


def test_missing_files_are_named(tmp_path, capsys):
    bench = _bench()
    assert bench.main([str(tmp_path / 'none.py'), 'x.pth']) == 2
    assert 'config' in capsys.readouterr().err


def test_candidates_on_known_truth(monkeypatch):
    bench = _bench()
    monkeypatch.setattr(bench, 'N_BOOT', 200)
    rng = np.random.default_rng(0)
    val, test = _split(rng, 400), _split(rng, 400)
    names = [f'j{i}' for i in range(16)]
    res = bench.evaluate(val, test, names)
    cov = res['coverage']['mu-sigma']
    for p in bench.LEVELS:
        assert abs(cov[f'sigma_coverage_{p}'] - p) < 3, (p, cov)
    np.testing.assert_allclose(
        res['calibration']['mu-sigma']['factors'], 2., rtol=0.15)
    # sigma knows each joint's error scale: it ranks "correct at PCKh@0.1"
    # (2 px) far above the noise score; the constant peak does not
    t = res['auroc']['PCKh@0.1']
    assert t['wrong'] > 30
    s = t['scores']
    assert s['mu-sigma']['auroc'] > 0.75 and s['mu-sigma']['diff_lo'] > 0.15
    assert abs(s['heatmap']['auroc'] - 0.5) < 0.05
    assert s['peak']['within'] == 0.5, 'a constant ranks no joint of a type'
    assert abs(s['peak']['auroc'] - 0.5) < 0.05
    assert s['mu-sigma']['within'] > 0.75
    # chosen on the validation split: a score that knows the truth
    assert res['chosen'] in ('mu-sigma', 'flow-at-kp'), res['chosen']
    # flow-at-kp with no offset is mu-sigma
    assert s['flow-at-kp']['auroc'] == pytest.approx(s['mu-sigma']['auroc'])


def test_choice_needs_a_gain_in_all_four():
    bench = _bench()

    def row(a, w):
        return dict(auroc=a, within=w)

    table = {
        'PCKh@0.5':
        dict(
            scores=dict(
                heatmap=row(.80, .80), a=row(.95, .81), b=row(.82, .82))),
        'PCKh@0.1':
        dict(
            scores=dict(
                heatmap=row(.70, .70), a=row(.69, .90), b=row(.71, .71)))
    }
    assert bench.choose(table) == 'b', 'a is far better in three, worse in one'
    table['PCKh@0.1']['scores']['b'] = row(.60, .75)
    assert bench.choose(table) == 'heatmap', 'no score gains in all four'


@pytest.mark.slow
def test_run_on_a_trained_model(trained_tiny, tmp_path):
    bench = _bench()
    out = str(tmp_path / 'uc')
    assert bench.main([
        trained_tiny.cfg, trained_tiny.ckpt, '--out', out, '--batch-size', '2',
        '--error-head', '--head-epochs', '2'
    ]) == 0
    data = json.loads(open(out + '.json').read())
    assert sorted(data['coverage']) == sorted(bench.SIGMAS)
    assert data['meta']['test_persons'] > 0
    assert data['meta']['error_head_fit']['num_joints'] > 0
    text = open(out + '.md').read()
    assert '## Ranking: correct at PCKh@0.1' in text
    assert 'undecided' in text, 'a handful of joints decides nothing'
    assert osp.isfile(out + '.md')
