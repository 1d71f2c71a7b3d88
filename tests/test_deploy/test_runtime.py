"""The torch-free ONNX runtime against ``mmpose.apis.inference_topdown``.

The tiny SADI-Net of ``conftest.py`` (trained one iteration, H1 output
layer redrawn for peaked heatmaps, flip test on) is exported once; the
runtime must give the PyTorch model's keypoints within 0.5 px on the five
MPII sample images (at every well-conditioned maximum, see
:func:`well_conditioned`), the same scores and sigmas,
run in a process where ``import torch`` fails, and refuse bad input with a
one-line error naming what does not fit.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from helpers import REPO, use_multiscale_test  # noqa: E402

#: Keypoints of the runtime and of inference_topdown may differ by this
#: much (image pixels).
KEYPOINT_TOL_PX = 0.5


@pytest.fixture(scope='module')
def reference(trained_tiny, sample_boxes):
    """inference_topdown's keypoints, scores and sigmas per sample image."""
    from mmpose.apis import inference_topdown, init_model
    model = init_model(trained_tiny.cfg, trained_tiny.ckpt, device='cpu')
    out = []
    for path, box in sample_boxes:
        pred = inference_topdown(model, path, box[None])[0].pred_instances
        out.append(
            dict(
                path=path,
                box=box,
                keypoints=np.asarray(pred.keypoints),
                scores=np.asarray(pred.keypoint_scores),
                sigmas=np.asarray(pred.keypoint_sigmas)))
    return out


def well_conditioned(heatmaps: np.ndarray,
                     shift: float = 0.05,
                     rel_noise: float = 1e-6) -> np.ndarray:
    """Joints whose DARK keypoint is determined by the float32 heatmaps.

    Two maxima of nearly equal height make the arg-max a coin toss, and
    DARK's Newton step is not bounded: at a ridge-like maximum (nearly
    singular Hessian) a relative change of ``rel_noise`` in the values
    moves the result by pixels, so no two float32 implementations (PyTorch
    and ONNX Runtime differ by ~1e-7) can agree there. A joint counts as
    well conditioned when its maximum has no rival elsewhere within ten
    times that (relative) and two seeded perturbations of that size move
    its keypoint by at most ``shift`` heatmap pixels.

    Returns:
        np.ndarray: (N, K) bool.
    """
    from sadinet_mmpose.codecs.decoding import decode_heatmaps, heatmap_maxima
    base, _ = decode_heatmaps(heatmaps)
    # a near-tie of two maxima: the best value outside the 5x5 block
    # around the maximum must be lower by more than the noise
    locs, peak = heatmap_maxima(heatmaps)
    N, K, H, W = heatmaps.shape
    ys, xs = np.mgrid[:H, :W]
    near = ((np.abs(xs - locs[..., :1, None]) <= 2) &
            (np.abs(ys - locs[..., 1:, None]) <= 2))
    second = np.where(near, -np.inf, heatmaps).reshape(N, K, -1).max(-1)
    ok = peak - second > 10 * rel_noise * np.abs(peak)
    rng = np.random.RandomState(0)
    for _ in range(2):
        noisy = heatmaps * (1 + rel_noise * rng.randn(*heatmaps.shape))
        moved, _ = decode_heatmaps(noisy.astype(np.float32))
        ok &= np.abs(moved - base).max(-1) <= shift
    return ok


def _check_against(reference,
                   result,
                   i,
                   name,
                   min_fraction=0.5,
                   heatmap_decoded=True):
    ref = reference[i]
    dist = np.linalg.norm(result['keypoints'] - ref['keypoints'], axis=-1)
    if not heatmap_decoded:  # mu_hat: no maximum to condition
        assert dist.max() <= KEYPOINT_TOL_PX, (
            f'{name}, {osp.basename(ref["path"])}: keypoints differ from '
            f'inference_topdown by up to {dist.max():.3f} px')
        print(f'{name}, {osp.basename(ref["path"])}: max diff '
              f'{dist.max():.4f} px')
        assert np.allclose(result['scores'], ref['scores'], atol=1e-4)
        assert np.allclose(
            result['sigmas'], ref['sigmas'], rtol=1e-4, atol=1e-4)
        return
    stable = well_conditioned(result['heatmaps'])
    from sadinet_mmpose.codecs.decoding import heatmap_maxima
    locs, _ = heatmap_maxima(result['heatmaps'])
    H, W = result['heatmaps'].shape[-2:]
    # DARK refines maxima at least 2 pixels inside the border
    inner = ((locs[..., 0] > 1) & (locs[..., 0] < W - 2) & (locs[..., 1] > 1) &
             (locs[..., 1] < H - 2))
    # joints at an ill-conditioned maximum: the same heatmap maximum (the
    # scores are the maxima, and equal), the sub-pixel step is not compared
    print(f'{name}, {osp.basename(ref["path"])}: {int(stable.sum())} of '
          f'{stable.size} joints well conditioned '
          f'({int((stable & inner).sum())} refined by DARK), max diff '
          f'{dist[stable].max():.4f} px')
    assert (stable & inner).sum() >= min_fraction * stable.size, (
        f'{name}, {osp.basename(ref["path"])}: only '
        f'{int((stable & inner).sum())} joints have a well-conditioned '
        'maximum that DARK refines')
    dist = dist[stable]
    assert dist.max() <= KEYPOINT_TOL_PX, (
        f'{name}, {osp.basename(ref["path"])}: keypoints differ from '
        f'inference_topdown by up to {dist.max():.3f} px')
    assert np.allclose(result['scores'], ref['scores'], atol=1e-4), \
        f'{name}, {osp.basename(ref["path"])}: scores differ'
    assert np.allclose(result['sigmas'], ref['sigmas'], rtol=1e-4,
                       atol=1e-4), \
        f'{name}, {osp.basename(ref["path"])}: sigmas (image px) differ'


def test_reference_exercises_the_decoding(reference):
    """The comparison below means something: several distinct keypoints
    with positive scores (so the maximum, DARK and the mapping to image
    pixels all matter; that they lie inside the heatmap, where DARK
    refines them, is checked with the runtime's heatmaps below)."""
    for ref in reference:
        kpts = ref['keypoints'][0]
        distinct = len({tuple(np.round(k, 2)) for k in kpts})
        assert distinct >= 4 and (ref['scores'] > 0).all(), (
            f'{osp.basename(ref["path"])}: only {distinct} distinct '
            'keypoints or non-positive scores in the reference')


def test_runtime_matches_inference_topdown(tiny_onnx, reference):
    from sadinet_mmpose.deploy import OnnxPoseEstimator
    assert tiny_onnx.rc == 0, 'export_onnx.py failed on the tiny model'
    est = OnnxPoseEstimator(
        tiny_onnx.path, num_keypoints=16, input_size=(64, 64))
    assert est.flip_test, 'the flip test of the config was not exported'
    for i, ref in enumerate(reference):
        out = est(cv2.imread(ref['path']), ref['box'])
        assert out['keypoints'].shape == (1, 16, 2), out['keypoints'].shape
        # the tiny checkpoint is not calibrated, and says so
        assert out['sigma_calibrated'] is False and out['sigma_dof'] is None
        _check_against(reference, out, i, 'runtime')


def test_runtime_without_flip_differs(tiny_onnx, reference):
    """The flip test matters for this check to mean anything: without it
    the keypoints move (so the test above compares like with like)."""
    from sadinet_mmpose.deploy import OnnxPoseEstimator
    est = OnnxPoseEstimator(tiny_onnx.path, flip_test=False)
    moved = []
    for ref in reference:
        out = est(cv2.imread(ref['path']), ref['box'])
        moved.append(np.abs(out['keypoints'] - ref['keypoints']).max())
    assert max(moved) > 1e-3, 'switching the flip test off changed nothing'


def test_several_boxes_in_one_call_and_fixed_batch_file(
        tiny_onnx, tiny_onnx_b3, reference):
    """Five boxes at once (one image), a batch-3 file (chunks of 3, the
    last one padded) and the dynamic file give the same keypoints."""
    from sadinet_mmpose.deploy import OnnxPoseEstimator
    fixed = tiny_onnx_b3.path
    image = cv2.imread(reference[0]['path'])
    h, w = image.shape[:2]
    boxes = np.array([
        reference[0]['box'], [0, 0, w, h], [10, 20, 90, 200],
        [w / 2, h / 3, w - 1, h - 1], [5, 5, 70, 60]
    ],
                     dtype=np.float32)
    dyn = OnnxPoseEstimator(tiny_onnx.path)(image, boxes)
    b3 = OnnxPoseEstimator(fixed)(image, boxes)
    assert OnnxPoseEstimator(fixed).fixed_batch == 3
    for key in ('keypoints', 'scores', 'sigmas'):
        assert dyn[key].shape[0] == 5, f'{key}: not one row per box'
        assert np.allclose(dyn[key], b3[key], atol=1e-4), \
            f'{key}: batch-3 file and dynamic file differ'
    _check_against(reference, {
        k: v[:1]
        for k, v in dyn.items() if isinstance(v, np.ndarray)
    }, 0, 'first of five boxes')
    xywh = OnnxPoseEstimator(tiny_onnx.path)(
        image,
        np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1),
        bbox_format='xywh')
    assert np.allclose(xywh['keypoints'], dyn['keypoints'], atol=1e-3), \
        'xywh boxes give other keypoints than the same xyxy boxes'


def test_runtime_runs_where_torch_cannot_be_imported(tiny_onnx, reference,
                                                     tmp_path):
    """A fresh interpreter whose ``import torch`` (and MMPose, mmengine,
    mmcv) fails: the package and its runtime import and give the same
    keypoints."""
    jobs = [dict(path=r['path'], box=r['box'].tolist()) for r in reference]
    (tmp_path / 'jobs.json').write_text(json.dumps(jobs))
    script = textwrap.dedent(f'''
        import importlib.abc, json, sys
        BLOCKED = ('torch', 'torchvision', 'mmpose', 'mmengine', 'mmcv',
                   'mmdet')

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in BLOCKED:
                    raise ImportError(f'{{name}} is blocked in this test')
                return None

        sys.meta_path.insert(0, Block())
        import cv2
        import numpy as np
        from sadinet_mmpose.deploy import OnnxPoseEstimator
        est = OnnxPoseEstimator({tiny_onnx.path!r})
        out = []
        for job in json.load(open({str(tmp_path / 'jobs.json')!r})):
            r = est(cv2.imread(job['path']), job['box'])
            out.append({{k: r[k].tolist() for k in
                         ('keypoints', 'scores', 'sigmas', 'heatmaps')}})
        loaded = sorted(m for m in sys.modules
                        if m.split('.')[0] in BLOCKED)
        print(json.dumps(dict(results=out, loaded=loaded)))
    ''')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, '-c', script],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=120,
                          cwd=REPO)
    assert proc.returncode == 0, (f'runtime without torch '
                                  f'failed:\n{proc.stderr}')
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got['loaded'] == [], f'blocked modules were loaded: {got["loaded"]}'
    for i, r in enumerate(got['results']):
        _check_against(reference, {
            k: np.asarray(v)
            for k, v in r.items()
        }, i, 'runtime without torch')


def _one_line_error(func, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as err:
        func(*args, **kwargs)
    msg = str(err.value)
    assert '\n' not in msg, f'error is not one line: {msg!r}'
    return msg


def test_bad_boxes_and_images_are_one_line_errors(tiny_onnx, reference):
    from sadinet_mmpose.deploy import OnnxPoseEstimator
    est = OnnxPoseEstimator(tiny_onnx.path)
    image = cv2.imread(reference[0]['path'])
    h, w = image.shape[:2]
    msg = _one_line_error(est, image, [w + 10, 0, w + 50, 40])
    assert 'outside the image' in msg and f'width {w}' in msg and \
        f'height {h}' in msg, f'box outside the image: {msg}'
    msg = _one_line_error(est, image, [[0, 0, 50, 50], [-80, -80, -1, -2]])
    assert msg.startswith('box 1 ') and 'outside the image' in msg, msg
    msg = _one_line_error(est, image, [50, 50, 40, 90])
    assert 'no area' in msg, f'empty box: {msg}'
    msg = _one_line_error(est, image, [0, 0, np.nan, 10])
    assert 'not finite' in msg, f'NaN box: {msg}'
    msg = _one_line_error(est, image, [0, 0, 10])
    assert 'shape (4,) or (N, 4)' in msg, f'3-number box: {msg}'
    msg = _one_line_error(est, image[..., 0], [0, 0, 10, 10])
    assert 'HxWx3 uint8' in msg and 'shape' in msg, f'grey image: {msg}'
    msg = _one_line_error(est, image.astype(np.float32), [0, 0, 10, 10])
    assert 'float32' in msg, f'float image: {msg}'


def test_no_box_is_the_whole_image_as_in_mmpose(tiny_onnx, reference):
    from sadinet_mmpose.deploy import OnnxPoseEstimator
    est = OnnxPoseEstimator(tiny_onnx.path)
    image = cv2.imread(reference[0]['path'])
    h, w = image.shape[:2]
    whole = est(image, [0, 0, w, h])['keypoints']
    for empty in ([], np.zeros((0, 4)), None):
        got = est(image, empty)['keypoints']
        assert got.shape == (1, whole.shape[1], 2)
        np.testing.assert_allclose(got, whole)


def test_onnx_file_of_another_model_is_refused(tiny_onnx, tmp_path):
    import torch

    from sadinet_mmpose.deploy import OnnxPoseEstimator
    msg = _one_line_error(
        OnnxPoseEstimator,
        tiny_onnx.path,
        num_keypoints=17,
        input_size=(192, 256))
    assert '16 keypoints (expected 17)' in msg and \
        'input size 64x64 (expected 192x256)' in msg, msg
    # an ONNX file that the exporter did not write: no metadata
    plain = str(tmp_path / 'plain.onnx')
    torch.onnx.export(
        torch.nn.Conv2d(3, 16, 1), (torch.zeros(1, 3, 8, 8), ),
        plain,
        dynamo=False,
        input_names=['input'],
        output_names=['heatmaps'])
    msg = _one_line_error(OnnxPoseEstimator, plain)
    assert 'not written by tools/deploy/export_onnx.py' in msg, msg
    # metadata of one model on the graph of another
    import onnx
    proto = onnx.load(plain)
    src = onnx.load(tiny_onnx.path)
    proto.metadata_props.extend(src.metadata_props)
    mixed = str(tmp_path / 'mixed.onnx')
    onnx.save(proto, mixed)
    msg = _one_line_error(OnnxPoseEstimator, mixed)
    assert 'does not fit its metadata' in msg and '(N, 3, 64, 64)' in msg, msg
    (tmp_path / 'junk.onnx').write_bytes(b'not an onnx file')
    msg = _one_line_error(OnnxPoseEstimator, str(tmp_path / 'junk.onnx'))
    assert 'cannot be loaded by ONNX Runtime' in msg, msg


@pytest.mark.parametrize('source', ['h1', 'mu'])
def test_multiscale_test_matches_inference_topdown(trained_tiny, sample_boxes,
                                                   tmp_path, source):
    """The config's multi-scale test (MSTopdownPoseEstimator with
    MultiScaleTopdownAffine) reproduced by the runtime, decoding H1 or
    ``mu_hat``."""
    from mmengine.config import Config
    from mmpose.apis import inference_topdown, init_model

    from sadinet_mmpose.deploy import OnnxPoseEstimator
    from sadinet_mmpose.deploy.export import export_onnx, load_model
    scales = [1.0, 1.25]
    cfg = Config.fromfile(trained_tiny.cfg)
    use_multiscale_test(cfg, scales)
    cfg.model.test_cfg['decode_source'] = source
    out = str(tmp_path / 'ms.onnx')
    meta = export_onnx(
        load_model(cfg, trained_tiny.ckpt), out, dynamic_batch=True)
    assert meta['scales'] == scales and meta['decode_source'] == source
    est = OnnxPoseEstimator(out)
    model = init_model(cfg, trained_tiny.ckpt, device='cpu')
    reference = []
    for path, box in sample_boxes:
        pred = inference_topdown(model, path, box[None])[0].pred_instances
        reference.append(
            dict(
                path=path,
                keypoints=np.asarray(pred.keypoints),
                scores=np.asarray(pred.keypoint_scores),
                sigmas=np.asarray(pred.keypoint_sigmas)))
    single = OnnxPoseEstimator(out, scales=[1.0])
    moved = 0.
    for i, (path, box) in enumerate(sample_boxes):
        image = cv2.imread(path)
        _check_against(
            reference,
            est(image, box),
            i,
            f'multi-scale runtime, {source}',
            heatmap_decoded=source == 'h1')
        moved = max(
            moved,
            float(
                np.abs(
                    single(image, box)['keypoints'] -
                    reference[i]['keypoints']).max()))
    assert moved > 1e-3, 'the extra scales changed nothing'
