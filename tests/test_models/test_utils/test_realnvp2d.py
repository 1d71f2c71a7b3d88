"""Tests of RealNVP2D: both directions, log-det, density, moments, dtype."""
import math

import pytest
import torch
from mmpose.registry import MODELS

import sadinet_mmpose  # noqa: F401  (registers; mmcv-lite placeholders)
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


def _masked_reference(flow, x, direction):
    """The masked coupling formulas, literally (RLE / RealNVP paper)."""
    y = x
    log_det = x.new_zeros(x.shape[:-1])
    order = range(flow.num_couplings)
    for i in (order if direction == 'forward' else reversed(order)):
        mask = flow.masks[i]
        kept = y * mask
        s = flow.scale_nets[i](kept) * (1 - mask)
        t = flow.trans_nets[i](kept) * (1 - mask)
        if direction == 'forward':
            y = kept + (1 - mask) * (y * torch.exp(s) + t)
            log_det = log_det + s.sum(-1)
        else:
            y = kept + (1 - mask) * (y - t) * torch.exp(-s)
            log_det = log_det - s.sum(-1)
    return y, log_det


@pytest.mark.parametrize('direction', ['forward', 'inverse'])
@pytest.mark.parametrize('shape', [(7, 2), (3, 4, 2), (2, )])
def test_column_couplings_equal_masked_formulas(direction, shape):
    """Outputs, log-dets and every gradient (parameters and input) equal
    the masked formulas in float64."""
    flow = _flow(gain=1.0).double()
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    out, log_det = getattr(flow, direction)(x)
    ref, ref_log_det = _masked_reference(flow, x, direction)
    assert out.shape == x.shape and log_det.shape == x.shape[:-1]
    assert out.dtype == torch.float64, 'a .double() flow computes in float64'
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12), direction
    assert torch.allclose(log_det, ref_log_det, rtol=1e-12, atol=1e-12)
    params = list(flow.parameters()) + [x]
    got = torch.autograd.grad(
        out.sum() + 2 * log_det.sum(), params, allow_unused=True)
    want = torch.autograd.grad(
        ref.sum() + 2 * ref_log_det.sum(), params, allow_unused=True)
    for (name, _), g, w in zip(
            list(flow.named_parameters()) + [('x', x)], got, want):
        g = torch.zeros_like(w) if g is None else g
        assert torch.allclose(g, w, rtol=1e-10, atol=1e-12), \
            f'{direction}: gradient of {name} differs from the masked form'


def test_density_equals_mmpose_realnvp():
    """Same weights as MMPose's RealNVP (RLE): same log-density and the
    same gradients of every weight, in float64."""
    from mmpose.models.utils.realnvp import RealNVP
    flow = _flow(gain=1.0).double()
    ref = RealNVP().double()
    for mine, theirs in ((flow.scale_nets, ref.s), (flow.trans_nets, ref.t)):
        theirs.load_state_dict(mine.state_dict())
    x = torch.randn(33, 2, dtype=torch.float64) * 2
    lp, lp_ref = flow.log_prob(x), ref.log_prob(x)
    assert torch.allclose(lp, lp_ref, rtol=1e-12, atol=1e-12), \
        'log-density equals MMPose RealNVP.log_prob'
    lp.sum().backward()
    lp_ref.sum().backward()
    for (name, p), q in zip(
            list(flow.scale_nets.named_parameters()) +
            list(flow.trans_nets.named_parameters()),
            list(ref.s.parameters()) + list(ref.t.parameters())):
        assert torch.allclose(p.grad, q.grad, rtol=1e-10, atol=1e-12), \
            f'gradient of {name} equals MMPose RealNVP\'s'


def test_float32_flow_keeps_float32_for_float64_input():
    flow = _flow()
    z, log_det = flow.inverse(torch.randn(4, 2, dtype=torch.float64))
    assert z.dtype == torch.float32 and log_det.dtype == torch.float32
