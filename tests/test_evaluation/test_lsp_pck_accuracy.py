"""LSPPCKAccuracy against hand-computed values."""
import numpy as np
import pytest
from mmpose.registry import METRICS

import sadinet_mmpose  # noqa: F401
from sadinet_mmpose.evaluation.metrics.lsp_pck_accuracy import ZeroTorsoWarning


def _gt(torso=50.):
    """14 joints; left shoulder (9) at (0, 0), right hip (2) at (0, torso)."""
    k = np.tile(np.array([[100., 100.]]), (14, 1)) + np.arange(14)[:, None]
    k[9] = [0., 0.]
    k[2] = [0., torso]
    return k


def _sample(gt, pred, vis=None):
    vis = np.ones(14) if vis is None else vis
    return dict(
        pred_instances=dict(keypoints=pred[None]),
        gt_instances=dict(keypoints=gt[None], keypoints_visible=vis[None]))


def _metric():
    return METRICS.build(dict(type='LSPPCKAccuracy'))


def test_hand_computed():
    m = _metric()
    gt1 = _gt(50.)  # threshold 0.2 * 50 = 10 px
    p1 = gt1.copy()
    p1[[6, 11], 0] += 10.5  # both wrists miss
    p1[7, 1] += 9.9  # right elbow hits
    gt2 = _gt(100.)  # threshold 20 px
    p2 = gt2.copy()
    p2[13] += [12., 12.]  # head top: 16.97 px -> hit
    p2[0] += [15., 15.]  # right ankle: 21.2 px -> miss
    vis2 = np.ones(14)
    vis2[5] = 0  # left ankle not scored
    m.process([], [_sample(gt1, p1), _sample(gt2, p2, vis2)])
    r = m.compute_metrics(m.results)
    assert r['Wrist PCK'] == pytest.approx(50.), 'wrists: 2 of 4 hit'
    assert r['Elbow PCK'] == pytest.approx(100.)
    assert r['Head PCK'] == pytest.approx(100.)
    assert r['Ankle PCK'] == pytest.approx(200. / 3), 'ankles: 2 of 3 scored'
    assert r['PCK'] == pytest.approx(100. * 24 / 27), 'mean: 24 of 27'
    assert r['excluded'] == 0


def test_zero_torso_is_excluded_with_warning():
    m = _metric()
    gt0 = _gt(0.)  # left shoulder == right hip
    gt1 = _gt(50.)
    p1 = gt1.copy()
    p1[0, 0] += 11.  # one miss
    m.process([], [_sample(gt0, gt0 + 100.), _sample(gt1, p1)])
    with pytest.warns(ZeroTorsoWarning, match='1 of 2 person'):
        r = m.compute_metrics(m.results)
    assert r['excluded'] == 1
    assert r['PCK'] == pytest.approx(100. * 13 / 14), \
        'the zero-torso person is not scored at all'


def test_torso_uses_lsp_joints_not_jhmdb():
    m = _metric()
    gt = _gt(50.)
    gt[4], gt[5] = [0., 0.], [0., 1000.]  # JHMDB's torso joints: far apart
    p = gt.copy()
    p[12, 0] += 15.  # 15 px: miss with torso 50, hit with torso 1000
    m.process([], [_sample(gt, p)])
    assert m.compute_metrics(m.results)['Head PCK'] == pytest.approx(50.)


def test_exact_tie_counts_as_correct():
    """``dist / torso == thr`` is a hit, as in the standard evaluation code
    (``mean(dist <= range(k))`` on torso-normalised distances)."""
    m = _metric()
    gt1 = _gt(50.)  # threshold 0.2 * 50 = 10 px
    p1 = gt1.copy()
    p1[0] += [6., 8.]  # right ankle: exactly 10 px (6-8-10 triangle)
    p1[5, 0] += 10.  # left ankle: exactly 10 px
    p1[6, 1] -= 10.000001  # right wrist: just beyond
    gt2 = _gt(35.)  # threshold 7 px
    p2 = gt2.copy()
    p2[13, 0] += 7.  # head top: exactly 7 px
    m.process([], [_sample(gt1, p1), _sample(gt2, p2)])
    r = m.compute_metrics(m.results)
    assert r['Ankle PCK'] == pytest.approx(100.), \
        'a distance of exactly 0.2 * torso must count as correct'
    assert r['Head PCK'] == pytest.approx(100.)
    assert r['Wrist PCK'] == pytest.approx(75.), 'one wrist of four misses'
    assert r['PCK'] == pytest.approx(100. * 27 / 28)


def test_docs_state_the_same_tie_rule(repo_root):
    import os.path as osp
    with open(osp.join(repo_root, 'docs', 'data.md')) as f:
        text = f.read()
    assert '||pred - gt|| / torso <= 0.2' in text, \
        'docs/data.md does not state the metric\'s rule (<=, tie = correct)'
