"""SigmaCalibration on predictors whose calibration is known."""
import numpy as np
import pytest

from sadinet_mmpose.evaluation import SigmaCalibration
from sadinet_mmpose.evaluation.functional import coverage_radius, radius_cdf
from sadinet_mmpose.evaluation.metrics.sigma_calibration import (
    COVERAGE_LEVELS, sigma_calibration)

N, K = 3000, 16
MPII_NAMES = ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
              'left_knee', 'left_ankle', 'pelvis', 'thorax', 'upper_neck',
              'head_top', 'right_wrist', 'right_elbow', 'right_shoulder',
              'left_shoulder', 'left_elbow', 'left_wrist')


def _people(seed=0):
    """People of sizes 5..60 px with sigmas of 0.05..0.5 of their size."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(5, 60, N)
    gt = rng.uniform(0, 500, (N, K, 2))
    sig = scale[:, None, None] * rng.uniform(0.05, 0.5, (N, K, 2))
    vis = rng.random((N, K)) > 0.1
    return rng, scale, gt, sig, vis


def test_radius_and_cdf_are_inverse_and_match_known_values():
    p = np.array([0.5, 0.9, 0.99])
    np.testing.assert_allclose(radius_cdf(coverage_radius(p)), p)
    np.testing.assert_allclose(radius_cdf(coverage_radius(p, 3.), 3.), p)
    # 1 sigma of a 2-D Gaussian holds 1 - exp(-1/2) = 39.35 %
    assert radius_cdf(1.) == pytest.approx(0.393469, abs=1e-6)
    # heavy tails need a larger radius; many degrees of freedom: Gaussian
    assert coverage_radius(0.9, 2.) > coverage_radius(0.9)
    assert coverage_radius(0.9, 1e6) == pytest.approx(
        coverage_radius(0.9), rel=1e-4)


def test_gaussian_errors_with_the_stated_sigmas_are_calibrated():
    rng, scale, gt, sig, vis = _people()
    pred = gt + rng.normal(size=gt.shape) * sig
    out = sigma_calibration(pred, gt, sig, vis, scale, joint_names=MPII_NAMES)
    for p in COVERAGE_LEVELS:
        assert abs(out[f'sigma_coverage_{p}'] - p) < 1.5, (p, out)
    assert out['sigma_ece'] < 1.0
    for g in ('head', 'shoulder', 'elbow', 'wrist', 'hip', 'knee', 'ankle',
              'torso'):
        for p in (50, 80, 90, 95):
            assert abs(out[f'sigma_coverage_{p}_{g}'] - p) < 3.5, (g, p, out)
    assert out['sigma_group_worst'] < 3.5
    assert out['sigma_num'] == vis.sum()
    # one group's errors twice as wide: the worst group says so
    wide = pred.copy()
    wrists = [MPII_NAMES.index(n) for n in MPII_NAMES if 'wrist' in n]
    wide[:, wrists] = gt[:, wrists] + 2 * (pred - gt)[:, wrists]
    out = sigma_calibration(wide, gt, sig, vis, scale, joint_names=MPII_NAMES)
    assert out['sigma_coverage_90_wrist'] < 50
    assert out['sigma_group_worst'] > 40


def test_errors_twice_sigma_are_caught():
    rng, scale, gt, sig, vis = _people(1)
    pred = gt + 2 * rng.normal(size=gt.shape) * sig
    out = sigma_calibration(pred, gt, sig, vis, scale)
    # radius 2.146 sigma holds 90 %; with errors of 2 sigma, 1 - e^{-0.576}
    assert out['sigma_coverage_90'] == pytest.approx(43.8, abs=2)
    assert out['sigma_ece'] > 20


def test_student_t_errors_are_calibrated_with_their_dof():
    rng, scale, gt, sig, vis = _people(2)
    dof = 3.
    # a 2-D t: Gaussian over sqrt(chi2(dof) / dof)
    w = np.sqrt(rng.chisquare(dof, (N, K, 1)) / dof)
    pred = gt + rng.normal(size=gt.shape) * sig / w
    t = sigma_calibration(pred, gt, sig, vis, scale, dof=np.full(K, dof))
    g = sigma_calibration(pred, gt, sig, vis, scale)
    for p in COVERAGE_LEVELS:
        assert abs(t[f'sigma_coverage_{p}'] - p) < 1.5, (p, t)
    # read as a Gaussian, the same errors are too wide in the tail
    assert g['sigma_coverage_99'] < 96 and g['sigma_ece'] > t['sigma_ece']
    assert t['sigma_nll'] < g['sigma_nll']


def test_uninformative_sigma_does_not_rank_errors_across_sizes():
    """Sigma = size x noise, error = size x independent noise: in pixels
    they correlate through the size; scale-free, they do not."""
    rng, scale, gt, _, vis = _people(3)
    sig = scale[:, None, None] * rng.uniform(0.1, 1, (N, K, 1)) * \
        np.ones((1, 1, 2))
    pred = gt + scale[:, None, None] * rng.normal(0, 0.2, gt.shape)
    out = sigma_calibration(pred, gt, sig, vis, scale)
    assert abs(out['sigma_spearman']) < 0.1, out
    in_pixels = sigma_calibration(pred, gt, sig, vis)  # no normalisation
    assert in_pixels['sigma_spearman'] > 0.3


def test_sigma_that_ranks_errors_perfectly_has_zero_ause():
    rng, scale, gt, _, vis = _people(4)
    dist = rng.uniform(0.01, 0.5, (N, K)) * scale[:, None]
    angle = rng.uniform(0, 2 * np.pi, (N, K))
    pred = gt + dist[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    sig = np.repeat((dist / scale[:, None])[..., None], 2, -1) * \
        scale[:, None, None]
    out = sigma_calibration(pred, gt, sig, vis, scale)
    assert out['sigma_ause'] == pytest.approx(0, abs=1e-9)
    assert out['sigma_spearman'] == pytest.approx(1.)
    shuffled = sigma_calibration(pred, gt, sig[rng.permutation(N)], vis, scale)
    assert shuffled['sigma_ause'] > 0.05


def _sample(kpt, sig, gt, vis, head=None, box=None, dof=None):
    pred = dict(keypoints=kpt[None], keypoint_sigmas=sig[None])
    if dof is not None:
        pred['keypoint_sigma_dof'] = dof[None]
    gt_inst = dict(keypoints=gt[None], keypoints_visible=vis[None])
    if head is not None:
        gt_inst['head_size'] = np.array([head])
    if box is not None:
        gt_inst['bboxes'] = np.array([box])
    return dict(pred_instances=pred, gt_instances=gt_inst)


def test_metric_normalises_by_head_else_box_and_reads_dof():
    rng = np.random.default_rng(5)
    samples = []
    for i in range(400):
        size = rng.uniform(5, 50)
        gt = rng.uniform(0, 200, (K, 2))
        sig = np.full((K, 2), 0.2 * size)
        kpt = gt + rng.normal(size=(K, 2)) * sig
        if i % 2:
            samples.append(_sample(kpt, sig, gt, np.ones(K), head=size))
        else:
            samples.append(
                _sample(kpt, sig, gt, np.ones(K), box=[0, 0, size, size / 2]))
    metric = SigmaCalibration()
    metric.dataset_meta = dict(keypoint_id2name=dict(enumerate(MPII_NAMES)))
    metric.process([], samples)
    out = metric.compute_metrics(metric.results)
    assert abs(out['sigma_coverage_90'] - 90) < 3
    # the sharpness is scale-free: 0.2 x radius(0.9) of the size
    assert out['sigma_sharpness'] == pytest.approx(
        0.2 * coverage_radius(0.9), rel=1e-6)
    assert 'sigma_coverage_90_wrist' in out
    with pytest.raises(KeyError, match='keypoint_sigmas'):
        metric.process(
            [],
            [dict(pred_instances=dict(keypoints=gt[None]), gt_instances={})])


@pytest.mark.parametrize('aspect', [1., 2., 4.])
@pytest.mark.parametrize('dof', [None, 6.])
def test_probability_within_matches_monte_carlo(aspect, dof):
    """Against samples drawn from the distribution itself: within 0.5
    points at aspects 1, 2 and 4 (the geometric-mean shortcut gives 0.68
    where the truth is 0.52 at aspect 4)."""
    from sadinet_mmpose.evaluation.functional import probability_within
    rng = np.random.default_rng(int(aspect * 10 + (dof or 0)))
    sig = np.array([[[2. * aspect, 2.]]])
    n = 400_000
    z = rng.standard_normal((n, 2)) * sig[0, 0]
    if dof is not None:
        z /= np.sqrt(rng.chisquare(dof, (n, 1)) / dof)
    for radius in (1.0, 3.0 * np.sqrt(aspect), 12.):
        mc = float(np.mean(np.linalg.norm(z, axis=1) <= radius))
        got = float(
            probability_within(
                np.array([[radius]]), sig,
                None if dof is None else np.array([[dof]]))[0, 0])
        assert abs(got - mc) < 0.005, (aspect, dof, radius, got, mc)


def test_describe_tail():
    from sadinet_mmpose.evaluation.functional import describe_tail
    assert describe_tail(float('inf')) == 'Gaussian'
    assert describe_tail([np.inf, np.inf]) == 'Gaussian'
    assert describe_tail(4.) == 'Student t, 4 dof'
    assert describe_tail([4., 4.]) == 'Student t, 4 dof'
    assert describe_tail([4., 1.5, 2.]) == 'Student t, 1.5 to 4 dof'
