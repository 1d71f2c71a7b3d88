"""Sigma calibration: the fit on known truth, ``tools/calibrate_sigma.py``,
and the head's buffers through every inference path."""
import hashlib
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from sadinet_mmpose.evaluation.functional import fit_sigma_calibration
from sadinet_mmpose.evaluation.metrics.sigma_calibration import \
    sigma_calibration
from helpers import REPO

TOOL = osp.join(REPO, 'tools', 'calibrate_sigma.py')
FACTORS = np.linspace(0.5, 2.0, 16).astype(np.float32)
DOF = 3.
RATIO = 0.12


@pytest.mark.parametrize('dof', [3., float('inf')])
def test_fit_recovers_known_factors_and_tail(dof):
    rng = np.random.default_rng(0)
    n, k = 1500, 16
    sig = rng.uniform(1, 5, (n, k, 2))
    vis = rng.random((n, k)) > 0.1
    true = np.linspace(0.5, 2.5, k)
    w = (
        np.sqrt(rng.chisquare(dof,
                              (n, k, 1)) / dof) if np.isfinite(dof) else 1.)
    err = rng.normal(size=(n, k, 2)) * sig * true[None, :, None] / w
    fit = fit_sigma_calibration(err, sig, vis)
    assert fit['dof'] == dof
    np.testing.assert_allclose(fit['factors'], true, rtol=0.06)
    # on fresh errors of the same kind the fitted sigma is calibrated
    err2 = rng.normal(size=(n, k, 2)) * sig * true[None, :, None] / (
        np.sqrt(rng.chisquare(dof,
                              (n, k, 1)) / dof) if np.isfinite(dof) else 1.)
    gt = np.zeros_like(err2)
    out = sigma_calibration(
        err2,
        gt,
        sig * fit['factors'][None, :, None],
        vis,
        dof=np.full(k, fit['dof']))
    for p in (50, 80, 90, 95):
        assert abs(out[f'sigma_coverage_{p}'] - p) < 2, out


def test_quantile_fit_gives_each_joint_its_own_tail():
    """Joints whose errors have different tails (Student t of 1.5 dof,
    3 dof, a Gaussian): the quantile fit covers each joint within 2.5
    points at 50/80/90/95 % on fresh errors (4,000 per joint: a standard
    error of 0.8 points at 50 %), where one shared tail (ml) misses a joint
    by more than 3."""
    from sadinet_mmpose.evaluation.functional.sigma_distribution import (
        QUANTILE_LEVELS, coverage_radius)
    rng = np.random.default_rng(0)
    n, tails = 4000, (1.5, 3., float('inf'))
    k = len(tails)
    true = np.array([0.5, 1., 2.])

    def draw():
        sig = rng.uniform(1, 5, (n, k, 2))
        w = np.stack([
            np.sqrt(rng.chisquare(d, n) / d) if np.isfinite(d) else np.ones(n)
            for d in tails
        ], 1)[..., None]
        return rng.normal(size=(n, k, 2)) * sig * true[None, :, None] / w, sig

    err, sig = draw()
    vis = np.ones((n, k), bool)
    quantile = fit_sigma_calibration(err, sig, vis, method='quantile')
    ml = fit_sigma_calibration(err, sig, vis, method='ml')
    assert np.isfinite(quantile['dofs']).all() and quantile['dof'] is None
    assert ml['dof'] == ml['dofs'][0] and len(set(ml['dofs'])) == 1
    err2, sig2 = draw()
    worst = {}
    for name, fit in (('quantile', quantile), ('ml', ml)):
        maha = np.linalg.norm(
            err2 / (sig2 * fit['factors'][None, :, None]), axis=-1)
        worst[name] = max(
            abs(100 *
                np.mean(maha[:, j] <= coverage_radius(p, fit['dofs'][j])) -
                100 * p) for j in range(k) for p in QUANTILE_LEVELS)
    assert worst['quantile'] < 2.5, worst
    assert worst['ml'] > 3, worst


def test_unknown_calibration_method_is_refused():
    with pytest.raises(ValueError, match='quantile'):
        fit_sigma_calibration(
            np.zeros((2, 1, 2)),
            np.ones((2, 1, 2)),
            np.ones((2, 1), bool),
            method='median')


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_tool_writes_a_new_checkpoint_and_never_overwrites(
        trained_tiny, tmp_path):
    src = trained_tiny.ckpt
    before = _sha(src)
    out = tmp_path / 'calibrated.pth'
    cmd = [sys.executable, TOOL, trained_tiny.cfg, src, '--out', str(out)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'before' in proc.stdout and 'after' in proc.stdout
    assert _sha(src) == before, 'the input checkpoint changed'
    ckpt = torch.load(str(out), map_location='cpu', weights_only=False)
    factors = ckpt['state_dict']['head.calibration.factors']
    assert factors.shape == (16, ) and (factors > 0).all()
    meta = ckpt['meta']['sigma_calibration']
    assert meta['source'] == osp.abspath(src)
    assert np.allclose(meta['factors'], factors.numpy())
    assert {'before', 'after'} <= set(meta)
    assert 'sigma_coverage_90' in meta['after']
    # the fit's quality on the split it was fitted on: calibration error
    # falls, and the 90 % region holds about 90 % of the joints
    assert meta['after']['sigma_ece'] < meta['before']['sigma_ece']
    assert abs(meta['after']['sigma_coverage_90'] - 90.) < 15.
    ratio = float(ckpt['state_dict']['head.calibration.scale_ratio'][0])
    assert ratio == pytest.approx(meta['scale_ratio']) and 0 < ratio < 1
    # the settings of the fit: the config's test_cfg
    from mmengine.config import Config

    from sadinet_mmpose.evaluation.functional import (conditions_hold,
                                                      describe_conditions)
    test_cfg = Config.fromfile(trained_tiny.cfg).model.test_cfg
    stored = ckpt['state_dict']['head.calibration.fit_conditions'].numpy()
    assert conditions_hold(stored, test_cfg) is True
    assert meta['test_settings'] == describe_conditions(stored)
    assert 'holds for flip_test=' in proc.stdout
    # a second run refuses the existing output; so does --out = the input
    for target in (str(out), src):
        proc = subprocess.run(
            cmd[:-1] + [target],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=600)
        assert proc.returncode == 2 and 'exists' in proc.stderr, proc.stderr
    assert _sha(src) == before


def test_tool_refuses_what_it_cannot_calibrate(trained_tiny, tmp_path):
    """Another model's checkpoint, a truncated one and an --out in a
    missing folder stop at once with one line naming the file."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    cfg = Config.fromfile(trained_tiny.cfg)
    cfg.model.head.out_channels = 14
    other = tmp_path / 'other_model.pth'
    torch.save(
        dict(state_dict=MODELS.build(cfg.model).state_dict(), meta={}), other)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(open(trained_tiny.ckpt, 'rb').read()[:5000])
    out = tmp_path / 'out.pth'
    cases = ((other, str(out), ('does not fit', 'model keys fit')),
             (truncated, str(out), ('cannot be read', )),
             (trained_tiny.ckpt, str(tmp_path / 'no' / 'out.pth'),
              ('does not exist', )))
    for ckpt, target, words in cases:
        proc = subprocess.run([
            sys.executable, TOOL, trained_tiny.cfg,
            str(ckpt), '--out', target
        ],
                              capture_output=True,
                              text=True,
                              cwd=REPO,
                              timeout=600)
        err = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert err.startswith('error: ') and all(w in err for w in words), err
        assert not osp.exists(target)
    assert 'before' not in proc.stdout, 'it ran the validation pass first'


@pytest.fixture(scope='module')
def calibrated(trained_tiny, tmp_path_factory):
    """The tiny checkpoint with known buffers: per-joint factors and a
    Student t with 3 degrees of freedom."""
    ckpt = torch.load(
        trained_tiny.ckpt, map_location='cpu', weights_only=False)
    ckpt['state_dict']['head.calibration.factors'] = torch.from_numpy(FACTORS)
    ckpt['state_dict']['head.calibration.dof'] = torch.full((16, ), DOF)
    ckpt['state_dict']['head.calibration.scale_ratio'] = torch.tensor([RATIO])
    path = tmp_path_factory.mktemp('calibrated') / 'calibrated.pth'
    torch.save(ckpt, str(path))
    return str(path)


def _image_and_box(trained_tiny):
    with open(osp.join(trained_tiny.data, 'annotations',
                       'mpii_sample.json')) as f:
        ann = json.load(f)[0]
    cx, cy = ann['center']
    half = ann['scale'] * 100
    return (osp.join(trained_tiny.data, 'images', ann['image']),
            np.array([[cx - half, cy - half, cx + half, cy + half]]))


def _check(plain, cal, where):
    p, c = plain.pred_instances, cal.pred_instances
    np.testing.assert_allclose(
        np.asarray(c.keypoint_sigmas),
        np.asarray(p.keypoint_sigmas) * FACTORS[None, :, None],
        rtol=1e-5,
        err_msg=f'{where}: sigmas are not the per-joint factors times the '
        'uncalibrated ones')
    np.testing.assert_allclose(
        np.asarray(c.keypoint_sigma_dof), np.full((1, 16), DOF), err_msg=where)
    assert bool(c.sigma_calibrated[0]) and not bool(p.sigma_calibrated[0])
    assert 'keypoint_sigma_dof' not in p, where
    np.testing.assert_allclose(
        np.asarray(c.keypoints),
        np.asarray(p.keypoints),
        rtol=1e-6,
        err_msg=f'{where}: keypoints changed')


@pytest.mark.parametrize('estimator',
                         ['TopdownPoseEstimator', 'MSTopdownPoseEstimator'])
def test_buffers_reach_inference_topdown(trained_tiny, calibrated, estimator):
    from mmengine.config import Config
    from mmpose.apis import inference_topdown, init_model
    image, box = _image_and_box(trained_tiny)
    cfg = Config.fromfile(trained_tiny.cfg)
    cfg.model.type = estimator
    plain = init_model(cfg, trained_tiny.ckpt, device='cpu')
    cal = init_model(cfg, calibrated, device='cpu')
    assert not plain.head.calibration.calibrated
    assert cal.head.calibration.calibrated
    _check(
        inference_topdown(plain, image, box)[0],
        inference_topdown(cal, image, box)[0], estimator)


def test_buffers_reach_mmpose_inferencer(trained_tiny, calibrated):
    from mmpose.apis import MMPoseInferencer
    image, _ = _image_and_box(trained_tiny)
    out = []
    for ckpt in (trained_tiny.ckpt, calibrated):
        inferencer = MMPoseInferencer(
            pose2d=trained_tiny.cfg,
            pose2d_weights=ckpt,
            det_model='whole_image',
            device='cpu')
        out.append(
            next(inferencer(image, return_datasamples=True))['predictions'][0])
    _check(out[0], out[1], 'MMPoseInferencer')


def test_buffers_reach_the_runner_and_sigma_calibration(
        trained_tiny, calibrated, tmp_path):
    """MMPose's runner (what tools/test.py runs) loads the buffers, and the
    metric reads the calibrated distribution (sigmas and dof)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    metrics = {}
    for name, ckpt in (('plain', trained_tiny.ckpt), ('cal', calibrated)):
        cfg = Config.fromfile(trained_tiny.cfg)
        cfg.work_dir = str(tmp_path / name)
        cfg.load_from = ckpt
        cfg.test_evaluator = [dict(type='SigmaCalibration')]
        cfg.visualizer.name = f'calibration_{name}'
        runner = Runner.from_cfg(cfg)
        metrics[name] = runner.test()
        if name == 'cal':
            np.testing.assert_allclose(
                runner.model.head.calibration.factors.numpy(), FACTORS)
    # wider sigmas and heavier tails: larger regions, higher coverage
    assert metrics['cal']['sigma_sharpness'] > \
        metrics['plain']['sigma_sharpness']
    assert metrics['cal']['sigma_coverage_90'] >= \
        metrics['plain']['sigma_coverage_90']


def test_buffers_reach_the_onnx_runtime(trained_tiny, calibrated, tmp_path):
    pytest.importorskip('onnxruntime')
    import cv2
    from mmpose.apis import inference_topdown, init_model

    from sadinet_mmpose.deploy import OnnxPoseEstimator
    sys.path.insert(0, osp.join(REPO, 'tools', 'deploy'))
    import export_onnx
    image, box = _image_and_box(trained_tiny)
    onnx = str(tmp_path / 'calibrated.onnx')
    assert export_onnx.main([trained_tiny.cfg, calibrated, '--out', onnx]) == 0
    got = OnnxPoseEstimator(onnx)(cv2.imread(image), box)
    want = inference_topdown(
        init_model(trained_tiny.cfg, calibrated, device='cpu'), image, box)[0]
    np.testing.assert_allclose(
        got['sigmas'], want.pred_instances.keypoint_sigmas, rtol=1e-3)
    np.testing.assert_allclose(got['sigma_dof'], np.full((1, 16), DOF))
    # as JSON: the keys of MMPose's inferencer output (as the plugin
    # extends it), with the same values
    from mmpose.structures import split_instances
    (mine, ) = OnnxPoseEstimator.person_records(got)
    (theirs, ) = split_instances(want.pred_instances)
    json.dumps(mine)
    for key in ('keypoint_sigmas', 'keypoint_sigma_dof', 'sigma_calibrated'):
        assert key in theirs, key
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-3)


def test_probability_score(trained_tiny, calibrated):
    """score_mode='probability': P(error <= tau x the estimated person
    scale) under the calibrated distribution; refused uncalibrated."""
    from mmengine.config import Config
    from mmpose.apis import inference_topdown, init_model

    from sadinet_mmpose.evaluation.functional import probability_within
    image, box = _image_and_box(trained_tiny)
    cfg = Config.fromfile(trained_tiny.cfg)
    cfg.model.test_cfg.score_mode = 'probability'
    cfg.model.test_cfg.score_tau = 0.1
    res = inference_topdown(
        init_model(cfg, calibrated, device='cpu'), image, box)[0]
    p = res.pred_instances
    side = float(np.max(res.metainfo['input_scale']))
    want = probability_within(0.1 * RATIO * side, p.keypoint_sigmas,
                              np.full((1, 16), DOF))
    np.testing.assert_allclose(p.keypoint_scores, want, rtol=1e-5)
    assert (p.keypoint_scores > 0).all() and (p.keypoint_scores < 1).all()
    with pytest.raises(ValueError, match='calibrate_sigma'):
        inference_topdown(
            init_model(cfg, trained_tiny.ckpt, device='cpu'), image, box)
    # the opt-in combination: the heatmap maximum times that probability
    cfg.model.test_cfg.score_mode = 'heatmap'
    plain = inference_topdown(
        init_model(cfg, calibrated, device='cpu'), image, box)[0]
    cfg.model.test_cfg.score_mode = 'heatmap_probability'
    both = inference_topdown(
        init_model(cfg, calibrated, device='cpu'), image, box)[0]
    np.testing.assert_allclose(
        both.pred_instances.keypoint_scores,
        plain.pred_instances.keypoint_scores * want,
        rtol=1e-5)
    cfg.model.test_cfg.score_mode = 'heatmap_times'
    with pytest.raises(ValueError, match="'heatmap_probability'"):
        inference_topdown(
            init_model(cfg, calibrated, device='cpu'), image, box)


def test_calibration_holds_only_under_the_settings_it_was_fitted_under():
    from sadinet_mmpose.evaluation.functional import (conditions_hold,
                                                      describe_conditions,
                                                      encode_conditions)
    from sadinet_mmpose.models import DLMHead
    six = dict(scales=[1.25, 0.75, 1.0, 0.875, 1.125, 1.375])
    fitted = dict(flip_test=True, multiscale_test=six)
    v = encode_conditions(fitted)
    assert describe_conditions(v) == (
        "flip_test=True, decode_source='h1', scales=[0.75, 0.875, 1, "
        '1.125, 1.25, 1.375]')
    assert describe_conditions(np.zeros_like(v)) == 'not recorded'
    assert conditions_hold(v, dict(fitted, decode_source='h1')) is True
    assert conditions_hold(v, dict(flip_test=True)) is False
    assert conditions_hold(v, dict(fitted, decode_source='mu')) is False
    assert conditions_hold(np.zeros_like(v), {}) is None
    with pytest.raises(ValueError, match='decode_source'):
        encode_conditions(dict(decode_source='h3'))

    head = DLMHead(out_channels=3, in_channels=4, vec_channels=8)
    head.calibration.factors.fill_(0.5)
    head.calibration.dof.fill_(6.)
    # a fit without recorded settings keeps holding
    assert head.calibration.for_test(dict(flip_test=False))['calibrated']
    head.calibration.fit_conditions.copy_(torch.from_numpy(v))
    cal = head.calibration.for_test(fitted)
    assert cal['calibrated'] and (cal['factors'] == 0.5).all()
    with pytest.warns(UserWarning, match='does not hold') as rec:
        cal = head.calibration.for_test(dict(flip_test=False))
        head.calibration.for_test(dict(flip_test=False))
    assert len(rec) == 1, 'the warning is given once'
    assert not cal['calibrated'] and (cal['factors'] == 1).all() and \
        (cal['dof'] == 0).all()
    # the buffer travels in the state dict
    other = DLMHead(out_channels=3, in_channels=4, vec_channels=8)
    other.load_state_dict(head.state_dict())
    assert conditions_hold(other.calibration.fit_conditions.numpy(), fitted)
