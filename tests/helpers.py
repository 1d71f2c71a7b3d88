"""Shared helpers for the tests: random batches for any heatmap config, and
the repository's scripts (``tools/``, ``benchmarks/``) loaded as modules."""
import importlib.util
import os.path as osp
import sys

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO, 'tools')
BENCHMARKS = osp.join(REPO, 'benchmarks')


def load_tool(filename: str, folder: str = TOOLS):
    """Import ``<folder>/<filename>`` as a module (its helpers importable).

    Args:
        filename (str): The script's file name, e.g. ``'demo.py'``.
        folder (str): Its folder, put first on ``sys.path`` so that the
            script's own helper packages import. Defaults to ``tools/``.

    Returns:
        module: The script, executed as a module (``__main__`` code skipped).
    """
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = 'sadinet_tool_' + osp.splitext(filename)[0]
    spec = importlib.util.spec_from_file_location(name,
                                                  osp.join(folder, filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeded_flow(identity: bool = False, seed: int = 0):
    """A ``RealNVP2D`` drawn under ``seed`` (gain 0.5), or the identity."""
    from mmpose.registry import MODELS
    torch.manual_seed(seed)
    return MODELS.build(
        dict(type='RealNVP2D', init_gain=0.5, identity_init=identity))


def load_study_loss():
    """Import ``benchmarks.ablation.study_loss`` (registers
    ``StudyChiWeightedLoss``) as the study's configs do, the repository root
    on ``sys.path``."""
    if REPO not in sys.path:
        sys.path.append(REPO)
    return importlib.import_module('benchmarks.ablation.study_loss')


def make_batch(decoder_cfg: dict,
               batch_size: int,
               num_keypoints: int,
               seed: int = 0):
    """Random crops and data samples encoded by the config's own codec.

    Args:
        decoder_cfg (dict): The head's ``decoder`` (a codec config).
        batch_size (int): B.
        num_keypoints (int): K.

    Returns:
        tuple: inputs (B, 3, H, W) float tensor and a list of B
        ``PoseDataSample`` with ground truth as the codec encodes it.
    """
    from mmengine.structures import InstanceData, PixelData
    from mmpose.registry import KEYPOINT_CODECS
    from mmpose.structures import PoseDataSample
    codec = KEYPOINT_CODECS.build(decoder_cfg)
    w, h = decoder_cfg['input_size']
    rng = np.random.RandomState(seed)
    samples = []
    for _ in range(batch_size):
        kpts = rng.rand(1, num_keypoints, 2) * [w * 0.8, h * 0.8] + [
            w * 0.1, h * 0.1
        ]
        vis = np.ones((1, num_keypoints), dtype=np.float32)
        enc = codec.encode(kpts, vis)
        ds = PoseDataSample(
            metainfo=dict(
                flip_indices=list(range(num_keypoints)),
                input_size=(w, h),
                input_center=np.array([w / 2, h / 2]),
                input_scale=np.array([w, h]),
                img_path='random'))
        ds.gt_instances = InstanceData(
            keypoints=kpts,
            keypoints_visible=vis,
            bboxes=np.array([[0, 0, w, h]], dtype=np.float32),
            bbox_scores=np.ones(1, dtype=np.float32))
        fields = {
            k: torch.as_tensor(v).float()
            for k, v in enc.items() if k == 'heatmaps'
        }
        ds.gt_fields = PixelData(**fields)
        labels = {
            k: torch.as_tensor(np.asarray(v)).float()
            for k, v in enc.items()
            if k in ('keypoint_labels', 'keypoint_weights',
                     'keypoints_visible_weights')
        }
        ds.gt_instance_labels = InstanceData(**labels)
        samples.append(ds)
    inputs = torch.randn(
        batch_size, 3, h, w, generator=torch.Generator().manual_seed(seed))
    return inputs, samples


def train_step(model, inputs, samples, lr: float = 1e-3) -> dict:
    """One forward/backward/Adam step of ``model.loss``; returns the losses."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    opt.zero_grad()
    total.backward()
    opt.step()
    return {k: float(v) for k, v in losses.items()}


def use_multiscale_test(cfg, scales, splits=('test', )) -> None:
    """Switch a tiny config (``LoadImage``, ``GetBBoxCenterScale``,
    ``TopdownAffine``, ``PackPoseInputs``) to the multi-scale test of
    ``scales`` in the pipelines of ``splits``, in place."""
    cfg.model.test_cfg['multiscale_test'] = dict(scales=list(scales))
    for split in splits:
        pipeline = cfg[f'{split}_dataloader'].dataset.pipeline
        pipeline[2] = dict(
            type='MultiScaleTopdownAffine',
            input_size=cfg.codec['input_size'],
            scales=list(scales))
        pipeline[3] = dict(
            type='PackPoseInputs',
            meta_keys=('id', 'img_id', 'img_path', 'category_id', 'ori_shape',
                       'img_shape', 'input_size', 'input_center',
                       'input_scale', 'flip', 'flip_direction', 'flip_indices',
                       'dataset_name', 'ms_inputs', 'ms_scales'))
