"""SADI-Net's MPII config trains through MMPose's runner in fp32, fp16 and
bf16 on a GPU: no non-finite loss, and the loss goes down.

200 iterations per precision at batch 64 on generated data (the setting is
``SADINET_GPU_CHECK_ITERS`` / ``_BATCH``); skipped without CUDA.
"""
import math
import os
import os.path as osp

import pytest
import torch

pytestmark = pytest.mark.gpu

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'sadinet',
                  'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py')
ITERS = int(os.environ.get('SADINET_GPU_CHECK_ITERS', 200))
BATCH = int(os.environ.get('SADINET_GPU_CHECK_BATCH', 64))


def _loss_recorder():
    from mmengine.hooks import Hook
    from mmpose.registry import HOOKS

    @HOOKS.register_module(force=True)
    class LossRecorderHook(Hook):
        losses = []

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            value = (outputs or {}).get('loss')
            type(self).losses.append(
                math.nan if value is None else float(value))

    return LossRecorderHook


@pytest.mark.parametrize('precision', ['fp32', 'fp16', 'bf16'])
def test_trains_without_nan_and_the_loss_falls(precision, tmp_path_factory):
    from mmengine.config import Config
    from mmengine.runner import Runner
    recorder = _loss_recorder()
    cfg = Config.fromfile(CONFIG)
    data_root = str(tmp_path_factory.getbasetemp() / 'synthetic_gpu_check')
    cfg.work_dir = str(tmp_path_factory.mktemp(precision))
    cfg.train_dataloader.batch_size = BATCH
    cfg.train_dataloader.dataset = dict(
        type='SyntheticMpiiDataset',
        data_root=data_root,
        split='train',
        num_images=2048,
        image_size=cfg.codec['input_size'][0],
        difficulty='standard',
        pipeline=cfg.train_pipeline)
    cfg.train_cfg = dict(by_epoch=False, max_iters=ITERS, val_interval=10**9)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.param_scheduler = [
        s for s in cfg.param_scheduler if not s.get('by_epoch', True)
    ]
    optim = dict(cfg.optim_wrapper)
    if precision != 'fp32':
        optim.update(
            type='AmpOptimWrapper',
            dtype=dict(fp16='float16', bf16='bfloat16')[precision])
    cfg.optim_wrapper = optim
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=10**9, save_last=False)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h['type'] != 'CheckpointGuardHook'
    ] + [dict(type=recorder.__name__)]
    cfg.launcher = 'none'
    recorder.losses = []
    Runner.from_cfg(cfg).train()
    losses = recorder.losses
    assert len(losses) == ITERS
    # fp16's loss scaler skips the first overflowing steps by design
    bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    assert len(bad) <= (10 if precision == 'fp16' else 0), \
        f'{precision}: non-finite loss at iterations {bad[:10]}'
    tenth = max(1, ITERS // 10)
    first = sum(v for v in losses[:tenth] if math.isfinite(v)) / tenth
    last = sum(losses[-tenth:]) / tenth
    assert last < first, f'{precision}: loss {first:.4f} -> {last:.4f}'
    assert torch.cuda.is_available()
