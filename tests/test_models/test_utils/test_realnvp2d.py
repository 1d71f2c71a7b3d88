"""Tests of RealNVP2D: both directions, log-det, density, moments, dtype."""
import sadinet_mmpose  # noqa: F401  (registers; mmcv-lite placeholders)
import math

import pytest
import torch

from mmpose.registry import MODELS
from sadinet_mmpose.models.utils import RealNVP2D


def _flow(gain=0.5, seed=0, **kwargs):
    torch.manual_seed(seed)
    return MODELS.build(dict(type='RealNVP2D', init_gain=gain, **kwargs))


def test_registered_and_rle_architecture():
    flow = _flow()
    assert isinstance(flow, RealNVP2D), 'registry builds RealNVP2D'
    assert flow.masks.tolist() == [[0, 1], [1, 0]] * 3, 'RLE masks x3'
    assert isinstance(flow.scale_nets[0][-1], torch.nn.Tanh), \
        's-net ends in Tanh'
    assert not isinstance(flow.trans_nets[0][-1], torch.nn.Tanh), \
        't-net has no Tanh'
    # same parameter count as MMPose's RealNVP (53,784)
    n = sum(p.numel() for p in flow.parameters())
    assert n == 53784, f'parameter count {n} != RLE flow 53784'


def test_inverse_of_forward_is_identity():
    flow = _flow()
    x = torch.randn(64, 2) * 3
    z, ld_inv = flow.inverse(x)
    x_back, ld_fwd = flow(z)
    assert torch.allclose(x_back, x, atol=1e-5), 'forward(inverse(x)) == x'
    assert torch.allclose(ld_inv, -ld_fwd, atol=1e-5), \
        'log-dets of the two directions cancel'


def test_log_det_matches_autograd_jacobian():
    flow = _flow(gain=1.0).double()
    x = torch.randn(5, 2, dtype=torch.float64)
    _, log_det = flow.inverse(x)
    for i in range(x.shape[0]):
        jac = torch.autograd.functional.jacobian(
            lambda p: flow.inverse(p[None])[0][0].double(), x[i].float())
        ref = torch.linalg.det(jac.double()).abs().log()
        assert abs(log_det[i].item() - ref.item()) < 1e-4, \
            f'point {i}: log|det dz/dx| {log_det[i].item()} vs autograd ' \
            f'{ref.item()}'


def test_identity_init_is_identity_and_standard_normal():
    flow = _flow(identity_init=True)
    x = torch.randn(16, 2)
    assert torch.equal(flow.inverse(x)[0], x), 'identity flow maps x to x'
    ref = -0.5 * (x**2).sum(-1) - math.log(2 * math.pi)
    assert torch.allclose(flow.log_prob(x), ref, atol=1e-6), \
        'identity flow density is N(0, I)'
    m, s = flow.moments(32)
    assert m.abs().max() < 1e-6 and (s - 1).abs().max() < 1e-5, \
        f'identity flow moments {m}, {s} != (0, 1)'


def test_density_mass_and_moments_match_grid_integration():
    """The density integrates to 1; Gauss-Hermite moments match a grid."""
    flow = _flow(gain=0.5)
    m, s = flow.moments(32)
    step = 0.1
    g = torch.arange(-8, 8, step) + step / 2
    yy, xx = torch.meshgrid(g, g, indexing='ij')
    pts = torch.stack([xx, yy], -1).reshape(-1, 2)
    with torch.no_grad():
        p = flow.log_prob(pts).exp() * step**2
    mean = (p[:, None] * pts).sum(0)
    std = ((p[:, None] * (pts - mean)**2).sum(0)).sqrt()
    assert abs(p.sum().item() - 1) < 1e-3, f'density mass {p.sum()} != 1'
    assert (m.detach() - mean).abs().max() < 1e-3, \
        f'Gauss-Hermite mean {m.tolist()} vs grid {mean.tolist()}'
    assert (s.detach() / std - 1).abs().max() < 1e-3, \
        f'Gauss-Hermite std {s.tolist()} vs grid {std.tolist()}'
    (m.sum() + s.sum()).backward()
    n_grad = sum(int(p.grad is not None) for p in flow.parameters())
    assert n_grad == len(list(flow.parameters())), \
        'moments are differentiable w.r.t. every flow parameter'


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_float32_under_autocast(dtype):
    flow = _flow()
    x = torch.tensor([[150., -300.], [0.1, 0.2]])
    with torch.autocast('cpu', dtype=dtype):
        lp = flow.log_prob(x)
        z, _ = flow(x)
    assert lp.dtype == torch.float32 and z.dtype == torch.float32, \
        f'{dtype}: flow outputs float32'
    assert torch.isfinite(lp).all(), f'{dtype}: finite at |x| >= 100'
