"""Every config in configs/ builds, and takes one training step (tiny
input)."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402

from helpers import make_batch, train_step  # noqa: E402

import sadinet_mmpose  # noqa: F401  isort: skip

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def _tiny(cfg: Config) -> Config:
    """Shrink the crop to 128x128 (the smallest a 5-level hourglass takes)."""
    head = cfg.model.head
    dec = head.decoder
    if dec.get('input_size', (0, 0))[0] > 128:
        dec.input_size = (128, 128)
        dec.heatmap_size = (32, 32)
    bb = cfg.model.backbone
    if bb.get('init_cfg', None) and bb.init_cfg.get('type') == 'Pretrained':
        bb.init_cfg = None  # no download in tests
    return cfg


def test_configs_found():
    names = [osp.basename(p) for p in CONFIGS]
    assert len(CONFIGS) >= 7, names
    assert 'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py' in names


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds_and_trains_one_step(path):
    init_default_scope('mmpose')
    cfg = _tiny(Config.fromfile(path))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    k = cfg.model.head.out_channels
    inputs, samples = make_batch(cfg.model.head.decoder, 2, k)
    before = [p.detach().clone() for p in model.parameters()]
    losses = train_step(model, inputs, samples)
    assert losses and all(math.isfinite(v)
                          for v in losses.values()), (path, losses)
    changed = sum(not torch.equal(a, b)
                  for a, b in zip(before, model.parameters()))
    assert changed > 0.9 * len(
        before), f'{path}: only {changed}/{len(before)} tensors updated'


FUSED_ADAM_CONFIGS = [
    'configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py',
    'configs/sadinet/'
    'td-hm_sadinet-rfm-sfm-dlm_fast-bf16-cl_2xb32-210e_mpii-256x256.py',
    'configs/sadinet/td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_lsp-256x256.py',
]


@pytest.mark.parametrize('rel', FUSED_ADAM_CONFIGS)
def test_config_adam_is_fused_and_same_update(rel):
    """The configs' fused Adam builds through mmengine and updates the
    weights as PyTorch's default (multi-tensor) Adam does (float64, so that
    rounding cannot hide a different update)."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(osp.join(REPO, rel))
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    assert opt_cfg.get('fused') is True, rel

    def run(optimizer_cfg):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8)).double()
        wrapper = build_optim_wrapper(
            net,
            dict(
                type='OptimWrapper',
                optimizer=optimizer_cfg,
                clip_grad=cfg.optim_wrapper.get('clip_grad')))
        x = torch.randn(
            2,
            3,
            9,
            9,
            dtype=torch.float64,
            generator=torch.Generator().manual_seed(1))
        for _ in range(3):
            wrapper.update_params(net(x).square().mean())
        return wrapper.optimizer, [p.detach() for p in net.parameters()]

    fused_opt, fused = run(opt_cfg)
    assert fused_opt.defaults['fused'] is True
    plain_opt, plain = run(dict(opt_cfg, fused=None))
    assert not plain_opt.defaults.get('fused')
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_fused_adam_with_grad_scaler_skips_inf_steps_like_default_adam():
    """The fp16 path (AmpOptimWrapper: GradScaler, unscale_ for clip_grad,
    then step): fused Adam takes the scaler's inf flag on the device and
    skips the update exactly where the default Adam's step is skipped."""

    def run(fused):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
        opt = torch.optim.Adam([w], lr=1e-2, fused=fused or None)
        scaler = torch.amp.GradScaler('cpu', init_scale=8.0)
        for i in range(4):
            opt.zero_grad()
            loss = (w * torch.arange(12.).view(4, 3).double()).sum()
            if i == 1:
                loss = loss * float('inf')  # an overflowing step
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_([w], 5.0)
            scaler.step(opt)
            scaler.update()
        return w.detach(), opt.state[w]['step'], scaler.get_scale()

    fused, plain = run(True), run(False)
    torch.testing.assert_close(fused[0], plain[0], rtol=1e-12, atol=1e-12)
    assert float(fused[1]) == float(plain[1]) == 3.0  # one step skipped
    assert fused[2] == plain[2]


RUNTIME_BASE = osp.join(REPO, 'configs', '_base_', 'sadinet_runtime.py')
#: The mixing configs inherit MMPose's stock configs whole (recipe and
#: runtime included); mmengine refuses a key defined by two bases, so they
#: cannot take a second runtime base and add the plugin's hooks themselves.
OWN_RECIPE = [p for p in CONFIGS if f'{osp.sep}mixing{osp.sep}' not in p]


@pytest.mark.parametrize(
    'path', OWN_RECIPE, ids=[osp.relpath(p, REPO) for p in OWN_RECIPE])
def test_runtime_settings_come_from_the_shared_base(path):
    """Plugin import, data_mode, optimizer + clipping, checkpoint backend and
    hooks are set once, in configs/_base_/sadinet_runtime.py."""
    cfg = Config.fromfile(path)
    rel = osp.relpath(path, REPO)
    chain = [
        line for line in cfg.text.splitlines() if line.startswith(osp.sep)
    ]
    assert RUNTIME_BASE in chain, f'{rel} does not inherit {RUNTIME_BASE}'
    assert cfg.custom_imports.imports == ['sadinet_mmpose']
    assert cfg.data_mode == 'topdown'
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=5.0, norm_type=2)
    ckpt = cfg.default_hooks.checkpoint
    assert ckpt.backend_args == dict(
        backend='atomic_local') and ckpt.rule == 'greater'
    assert [h['type'] for h in cfg.custom_hooks] == [
        'SyncBuffersHook', 'FlushDenormalHook', 'CheckpointGuardHook',
        'RNGStateHook'
    ]
    with open(path) as f:
        text = '\n' + f.read()
    for name in ('custom_imports', 'custom_hooks'):
        assert f'\n{name} = ' not in text, \
            f'{rel} sets {name} again instead of inheriting it'


def test_lsp_configs_map_mpii_joints_by_name():
    """The LSP recipe's KeypointConverter, joint by joint: every LSP joint
    receives the MPII joint of the same name (LSP's neck is MPII's upper
    neck), checked through the transform on labelled coordinates."""
    import numpy as np
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.registry import TRANSFORMS

    REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    init_default_scope('mmpose')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'sadinet',
                 'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_lsp-256x256.py'))
    mpii_ds = [
        d for d in cfg.train_dataloader.dataset.datasets
        if 'mpii' in str(d.get('data_root', ''))
    ][0]
    (conv, ) = [
        t for t in mpii_ds.pipeline if t['type'] == 'KeypointConverter'
    ]
    # MMPose's own MPII metainfo (its package's configs/_base_/datasets)
    mpii = parse_pose_metainfo(
        dict(from_file='configs/_base_/datasets/mpii.py'))
    lsp = parse_pose_metainfo(
        dict(
            from_file=osp.join(REPO, 'sadinet_mmpose', 'datasets', 'metainfo',
                               'lsp.py')))
    mpii_names = mpii['keypoint_id2name']
    lsp_names = lsp['keypoint_id2name']
    same = {'upper_neck': 'neck'}
    # MPII joint k at x = k: the converted LSP joint j must carry the x of
    # the MPII joint whose name is j's
    kpt = np.stack([np.arange(16.), np.zeros(16)], -1)[None]
    out = TRANSFORMS.build(conv)(
        dict(
            keypoints=kpt,
            keypoints_visible=np.ones((1, 16)),
            bbox=np.zeros((1, 4))))
    assert out['keypoints'].shape == (1, 14, 2)
    for j in range(14):
        k = int(out['keypoints'][0, j, 0])
        assert same.get(mpii_names[k], mpii_names[k]) == lsp_names[j], \
            f'LSP joint {j} ({lsp_names[j]}) gets MPII {k} ({mpii_names[k]})'
