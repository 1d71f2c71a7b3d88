"""MMPose's inferencer (``MMPoseInferencer``, ``demo/inferencer_demo.py``)
takes every config in configs/.

Besides the model, the inferencer reads the config's top-level
``data_mode`` and ``dataset_type``, its test pipeline, its visualiser and
the dataset meta of its training data. Those are what these tests exercise
with each shipped config as it is; only the network is narrowed to the tiny
SADI-Net (at the config's own crop and heatmap sizes, keypoint count and
``test_cfg``, so flip and multi-scale test run) so that a dozen configs run
in seconds. Every full network is built and trained one step in
``test_configs.py``; a trained checkpoint goes through the inferencer in
``tests/test_workflows/test_stock_tools.py``.
"""
import glob
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config  # noqa: E402

import sadinet_mmpose  # noqa: F401  isort: skip

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def _tiny_network(cfg: Config) -> dict:
    """The tiny SADI-Net with the config's codec sizes, K and test_cfg."""
    codec = cfg.model.head.decoder
    k = cfg.model.head.out_channels
    decoder = dict(
        type='FlowHeatmapCodec',
        input_size=tuple(codec.input_size),
        heatmap_size=tuple(codec.heatmap_size),
        sigma=2)
    return dict(
        type='MSTopdownPoseEstimator',
        data_preprocessor=cfg.model.data_preprocessor,
        backbone=dict(
            type='RFMHourglass',
            downsample_times=4,
            stage_channels=(16, 16, 16, 16, 16),
            stage_blocks=(1, 1, 1, 1, 1),
            feat_channel=16,
            ms_channels=(8, 8, 16, 16)),
        neck=dict(
            type='SFMNeck',
            in_channels=(8, 8, 16, 16),
            global_channels=8,
            cls_channels=(8, 8, 16, 32),
            out_channels=32),
        head=dict(
            type='DLMHead',
            in_channels=16,
            vec_channels=32,
            out_channels=k,
            loss=dict(type='ChiWeightedLoss'),
            decoder=decoder),
        test_cfg=cfg.model.get('test_cfg', {}))


def test_every_config_sets_the_inferencer_keys():
    assert CONFIGS
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        rel = osp.relpath(path, REPO)
        assert cfg.get('data_mode') == 'topdown', \
            f"{rel}: data_mode is {cfg.get('data_mode')!r}, not 'topdown'"
        assert cfg.get('dataset_type'), f'{rel}: no dataset_type'
        assert cfg.get('visualizer'), f'{rel}: no visualizer'


@pytest.mark.slow
@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_mmpose_inferencer_runs_with_config(path, mpii_sample_dir):
    from mmpose.apis import MMPoseInferencer
    cfg = Config.fromfile(path)
    k = cfg.model.head.out_channels
    cfg.model = _tiny_network(cfg)
    image = osp.join(mpii_sample_dir, 'images', '052475643.jpg')
    inferencer = MMPoseInferencer(
        pose2d=cfg, det_model='whole_image', device='cpu')
    result = next(inferencer(image, return_vis=True))
    people = result['predictions'][0]
    assert len(people) == 1, f'{len(people)} people for the whole-image box'
    keypoints = np.asarray(people[0]['keypoints'])
    assert keypoints.shape == (k, 2) and np.isfinite(keypoints).all(), \
        f'keypoints {keypoints.shape}'
    import cv2
    assert result['visualization'][0].shape == cv2.imread(image).shape
