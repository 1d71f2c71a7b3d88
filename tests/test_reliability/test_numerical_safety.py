"""Numerical safety of the DLM head and the chi-weighted loss.

Complements ``tests/test_models/test_heads/test_dlm_head.py`` and
``tests/test_models/test_losses/test_chi_weighted_loss.py`` (which cover
fp16/bf16 autocast with mixed extreme sigma logits and one far mu, NaN labels
of zero-weight joints, and all joints invisible with ordinary predictions):
here the *full head loss* runs in float32 with each adversarial case on
every joint of the batch, the cases combined with an all-invisible batch,
and a seeded random search over many magnitudes of every input.
"""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402

from helpers import make_batch  # noqa: E402

import sadinet_mmpose  # noqa: F401  isort: skip

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
K, C, V, B = 16, 16, 32, 2
CODEC = dict(
    type='FlowHeatmapCodec',
    input_size=(64, 64),
    heatmap_size=(16, 16),
    sigma=1.5)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread is ~10x faster on a busy 2-core
    box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _configs():
    return sorted(
        p for p in glob.glob(
            osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
        if '_base_' not in p)


def _uses_dlm(cfg) -> bool:
    head = cfg.get('model', {}).get('head', {}) or {}
    return head.get('type') == 'DLMHead'


def test_gradient_clipping_on_in_every_dlm_config():
    checked = []
    for path in _configs():
        cfg = Config.fromfile(path)
        if not _uses_dlm(cfg):
            continue
        name = osp.relpath(path, REPO)
        clip = cfg.get('optim_wrapper', {}).get('clip_grad')
        assert clip, (f'{name}: uses DLMHead but optim_wrapper.clip_grad is '
                      f'unset')
        assert clip.get('max_norm', 0) > 0 and np.isfinite(clip['max_norm']), \
            f'{name}: clip_grad.max_norm must be finite and > 0, got {clip}'
        checked.append(name)
    assert checked, 'no config under configs/ uses DLMHead (glob broken?)'


def _head(seed=0):
    torch.manual_seed(seed)
    return MODELS.build(
        dict(
            type='DLMHead',
            in_channels=C,
            vec_channels=V,
            out_channels=K,
            loss=dict(type='ChiWeightedLoss', num_gh_nodes=16),
            decoder=CODEC))


def _feats(seed=0, spatial_scale=1.0, vec_scale=1.0):
    g = torch.Generator().manual_seed(seed)
    spatial = torch.randn(B, C, 16, 16, generator=g) * spatial_scale
    vec = torch.randn(B, V, generator=g) * vec_scale
    return spatial.requires_grad_(), vec.requires_grad_()


def _samples(invisible=False, seed=0):
    _, samples = make_batch(CODEC, B, K, seed=seed)
    if invisible:
        for d in samples:
            d.gt_instance_labels.keypoint_weights[:] = 0
            d.gt_instance_labels.keypoint_labels[:] = float('nan')
    return samples


def _adversarial(head, case):
    """Set the regression layers so every joint hits ``case``."""
    with torch.no_grad():
        head.sigma_fc.weight.zero_()
        head.mu_fc.weight.zero_()
        if case == 'sigma_max':
            head.sigma_fc.bias.fill_(1e4)  # sigmoid -> 1: sigma = 1 + floor
        elif case == 'sigma_min':
            head.sigma_fc.bias.fill_(-1e4)  # sigmoid -> 0: sigma = floor
        elif case == 'mu_far_out':
            head.mu_fc.bias.copy_(torch.tensor([1e6, -1e6] * K))
        elif case == 'mu_huge':
            head.mu_fc.bias.fill_(1e30)
        elif case == 'sigma_min_mu_far':
            head.sigma_fc.bias.fill_(-1e4)
            head.mu_fc.bias.fill_(-1e6)


CASES = ['sigma_max', 'sigma_min', 'mu_far_out', 'mu_huge', 'sigma_min_mu_far']


def _check(head, losses, feats, case):
    for key, v in losses.items():
        assert torch.isfinite(v).all(), f'{case}: {key} = {v} is not finite'
    losses['loss_kpt'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), \
            f'{case}: gradient of {name} is not finite'
    for i, f in enumerate(feats):
        assert f.grad is not None and torch.isfinite(f.grad).all(), \
            f'{case}: gradient of input feature {i} is not finite'


@pytest.mark.parametrize(
    'invisible', [False, True], ids=['visible', 'all_invisible'])
@pytest.mark.parametrize('case', CASES)
def test_head_loss_adversarial_predictions_fp32(case, invisible):
    head = _head()
    _adversarial(head, case)
    feats = _feats()
    losses = head.loss(feats, _samples(invisible))
    label = f'{case}, {"all joints invisible" if invisible else "visible"}'
    _check(head, losses, feats, label)
    if invisible:
        assert losses['loss_kpt'].item() == 0, \
            f'{label}: a batch without a labelled joint must give zero loss'
    elif case in ('mu_far_out', 'sigma_min_mu_far'):
        assert head.mu_fc.bias.grad.abs().sum() > 0, \
            f'{label}: mu far outside the crop must still be pulled back'


@pytest.mark.parametrize('spatial_scale,vec_scale', [(1e-30, 1e-30), (1e6, 1.),
                                                     (1., 1e30), (0., 0.)])
def test_head_loss_extreme_feature_magnitudes(spatial_scale, vec_scale):
    head = _head()
    feats = _feats(spatial_scale=spatial_scale, vec_scale=vec_scale)
    losses = head.loss(feats, _samples())
    _check(head, losses, feats,
           f'features x{spatial_scale:g} (spatial), x{vec_scale:g} (vector)')


def test_chi_loss_random_finite_inputs_over_magnitudes():
    """Seeded random search: every input at magnitudes 1e-30 .. 1e30.

    H1 is drawn up to 1e15 only: its MSE squares it, and float32 overflows
    for |H1 - target| above about 1.8e19 (see docs/reliability.md).
    """
    loss = MODELS.build(dict(type='ChiWeightedLoss', num_gh_nodes=8))
    rng = np.random.default_rng(2026)
    modes = ['chi', 'sum']

    def mag(shape, lo, hi):
        return (rng.choice([-1., 1.], shape) *
                10.0**rng.uniform(lo, hi, shape)).astype(np.float32)

    torch.manual_seed(0)
    flows = [
        MODELS.build(dict(type='RealNVP2D', init_gain=gain))
        for gain in (1e-3, 0.1, 0.5, 2.0)
    ]
    for trial in range(300):
        flow = flows[trial % len(flows)]
        flow.zero_grad()
        loss.weighting = modes[trial % 2]
        b, k, hw = int(rng.integers(1, 3)), int(rng.integers(1, 4)), 4
        h1 = torch.tensor(mag((b, k, hw, hw), -30, 15), requires_grad=True)
        gt_hm = torch.tensor(rng.random((b, k, hw, hw), dtype=np.float32))
        mu = torch.tensor(mag((b, k, 2), -30, 30), requires_grad=True)
        sigma = torch.tensor(
            np.abs(mag((b, k, 2), -30, 30)), requires_grad=True)
        gt = torch.tensor(mag((b, k, 2), -30, 30))
        weights = torch.tensor(
            (rng.random((b, k)) > 0.3) * 10.0**rng.uniform(-3, 3, (b, k)),
            dtype=torch.float32)
        total = loss(h1, gt_hm, mu, sigma, gt, weights, flow)
        case = (f'trial {trial} ({loss.weighting}): |H1|<={h1.abs().max():.1e}'
                f', |mu|<={mu.abs().max():.1e}, sigma in '
                f'[{sigma.min():.1e}, {sigma.max():.1e}], '
                f'|gt|<={gt.abs().max():.1e}')
        assert torch.isfinite(total), f'{case}: loss {total} is not finite'
        total.backward()
        for name, t in (('H1', h1), ('mu', mu), ('sigma', sigma)):
            assert t.grad is None or torch.isfinite(t.grad).all(), \
                f'{case}: gradient of {name} is not finite'
        for name, p in flow.named_parameters():
            assert p.grad is None or torch.isfinite(p.grad).all(), \
                f'{case}: gradient of flow.{name} is not finite'
