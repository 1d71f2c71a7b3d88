"""``tools/fit_error_head.py`` on the tiny model, and the fitted error head
through inference, calibration and the ONNX runtime."""
import hashlib
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from helpers import REPO, use_multiscale_test

TOOL = osp.join(REPO, 'tools', 'fit_error_head.py')
CALIBRATE = osp.join(REPO, 'tools', 'calibrate_sigma.py')


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _run(*args):
    return subprocess.run([sys.executable, *map(str, args)],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          timeout=900)


@pytest.fixture(scope='module')
def fitted(trained_tiny, tmp_path_factory):
    """The tiny model with an error head fitted (and then calibrated) by
    the tools; ``cfg`` is the tiny config with an error head."""
    root = tmp_path_factory.mktemp('error_head')
    cfg = root / 'tiny_error_head.py'
    cfg.write_text(f"_base_ = ['{trained_tiny.cfg}']\n"
                   'model = dict(head=dict(error_head=dict('
                   "type='KeypointErrorHead')))\n")
    before = _sha(trained_tiny.ckpt)
    out = root / 'fitted.pth'
    proc = _run(TOOL, cfg, trained_tiny.ckpt, '--out', out, '--epochs', 5)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _sha(trained_tiny.ckpt) == before, 'the input checkpoint changed'
    calibrated = root / 'calibrated.pth'
    cal = _run(CALIBRATE, cfg, out, '--out', calibrated)
    assert cal.returncode == 0, cal.stderr[-3000:]
    return SimpleNamespace(
        cfg=str(cfg),
        ckpt=str(out),
        calibrated=str(calibrated),
        stdout=proc.stdout,
        source=trained_tiny)


def test_tool_writes_a_fitted_head_and_keeps_the_rest(fitted):
    ckpt = torch.load(fitted.ckpt, map_location='cpu', weights_only=False)
    src = torch.load(
        fitted.source.ckpt, map_location='cpu', weights_only=False)
    state = ckpt['state_dict']
    assert float(state['head.error_head.fitted']) == 1
    assert float(state['head.calibration.scale_ratio']) == 0, \
        'the calibration of the old sigma was kept'
    for k, v in src['state_dict'].items():
        if '.calibration.' not in k:
            assert torch.equal(v, state[k]), k
    meta = ckpt['meta']['error_head']
    assert meta['source'] == osp.abspath(fitted.source.ckpt)
    assert meta['num_joints'] > 0 and np.isfinite(meta['nll'])
    assert 'wrote' in fitted.stdout and 'calibrate_sigma.py' in fitted.stdout


def test_tool_refuses_a_head_without_error_head_and_an_existing_out(
        trained_tiny, fitted, tmp_path):
    proc = _run(TOOL, trained_tiny.cfg, trained_tiny.ckpt, '--out',
                tmp_path / 'x.pth')
    assert proc.returncode == 2
    assert 'error_head.type=KeypointErrorHead' in proc.stderr, proc.stderr
    proc = _run(TOOL, fitted.cfg, trained_tiny.ckpt, '--out', fitted.ckpt)
    assert proc.returncode == 2 and 'exists' in proc.stderr


def _predict(cfg, ckpt, sample_boxes, **test_cfg):
    from mmengine.config import Config
    from mmpose.apis import inference_topdown, init_model
    config = Config.fromfile(cfg)
    config.model.test_cfg.update(test_cfg)
    model = init_model(config, ckpt, device='cpu')
    out = [
        inference_topdown(model, path, box[None])[0].pred_instances
        for path, box in sample_boxes
    ]
    return model, out


def test_inference_reports_the_error_head(fitted, sample_boxes):
    """Without flip: ``keypoint_sigmas`` is the error head's scale of the
    crop, in image pixels; with ``decode_source='mu'`` it is
    ``sigma_hat``, as before the fit."""
    model, preds = _predict(
        fitted.cfg, fitted.ckpt, sample_boxes, flip_test=False)
    _, old = _predict(
        fitted.cfg,
        fitted.source.ckpt,
        sample_boxes,
        flip_test=False,
        decode_source='mu')
    _, mu = _predict(
        fitted.cfg,
        fitted.ckpt,
        sample_boxes,
        flip_test=False,
        decode_source='mu')
    path, box = sample_boxes[0]
    from mmpose.datasets.transforms import GetBBoxCenterScale, TopdownAffine
    img = cv2.imread(path)
    data = GetBBoxCenterScale()(dict(img=img, bbox=box[None]))
    data = TopdownAffine(input_size=(64, 64))(data)
    x = torch.from_numpy(cv2.cvtColor(data['img'], cv2.COLOR_BGR2RGB)).permute(
        2, 0, 1)[None].float()
    pre = model.data_preprocessor
    x = (x - pre.mean) / pre.std
    with torch.no_grad():
        feats = model.extract_feat(x)
        err = model.head.forward_with_error(feats)[3][0].numpy()
    want = err * np.asarray(data['input_scale']).reshape(-1)[:2]
    np.testing.assert_allclose(
        np.asarray(preds[0].keypoint_sigmas)[0], want, rtol=1e-4, atol=1e-5)
    for a, b in zip(mu, old):
        np.testing.assert_allclose(a.keypoint_sigmas, b.keypoint_sigmas)
    assert not np.allclose(preds[0].keypoint_sigmas, mu[0].keypoint_sigmas)


def test_calibrated_error_head_in_the_onnx_runtime(fitted, sample_boxes,
                                                   tmp_path):
    """Exported with a multi-scale test and the flip test, the runtime's
    sigmas are inference_topdown's: the error head merged over passes and
    scales, calibrated."""
    from mmengine.config import Config

    from sadinet_mmpose.deploy import OnnxPoseEstimator
    from sadinet_mmpose.deploy.export import export_onnx, load_model
    scales = [1.0, 1.25]
    cfg = Config.fromfile(fitted.cfg)
    use_multiscale_test(cfg, scales, ('val', 'test'))  # calibrated on val
    cfg_file = tmp_path / 'ms.py'
    cfg.dump(str(cfg_file))
    out = str(tmp_path / 'eh.onnx')
    # calibrated under the single-scale test: refit for this one
    calibrated = tmp_path / 'calibrated.pth'
    cal = _run(CALIBRATE, cfg_file, fitted.ckpt, '--out', calibrated)
    assert cal.returncode == 0, cal.stderr[-3000:]
    meta = export_onnx(
        load_model(cfg, str(calibrated)), out, dynamic_batch=True)
    assert meta['outputs'][-1] == 'error_sigma' and meta['sigma_calibrated']
    est = OnnxPoseEstimator(out)
    _, ref = _predict(str(cfg_file), str(calibrated), sample_boxes)
    for (path, box), r in zip(sample_boxes, ref):
        got = est(cv2.imread(path), box)
        assert got['sigma_calibrated']
        np.testing.assert_allclose(
            got['sigmas'][0],
            np.asarray(r.keypoint_sigmas)[0],
            rtol=1e-3,
            atol=1e-4)
