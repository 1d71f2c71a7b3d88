"""Tests of ChiWeightedLoss: the density, the weighting, numerical safety."""
import math

import pytest
import torch
from mmpose.registry import MODELS

import sadinet_mmpose  # noqa: F401  (registers; mmcv-lite placeholders)
from helpers import seeded_flow as _flow  # noqa: E402

B, K, HM = 2, 4, 8


def _loss(**kwargs):
    """The loss; 16x16 Gauss-Hermite nodes keep the tests fast."""
    kwargs.setdefault('num_gh_nodes', 16)
    return MODELS.build(dict(type='ChiWeightedLoss', **kwargs))


def test_h1_is_summed_over_the_pixels():
    """L_H1 sums the squared error over a joint's pixels (the measured
    balance, docs/ablation.md), and a DLMHead's default loss does too."""
    heatmaps, gt_hm, mu, logits, gt, weights = _inputs()
    terms = _loss(weighting='sum').compute_terms(heatmaps, gt_hm, mu,
                                                 _sigma(logits), gt, weights,
                                                 _flow())
    want = ((heatmaps - gt_hm)**2).sum((-1, -2)).mean()
    assert torch.allclose(terms['h1'], want, rtol=1e-6)
    from sadinet_mmpose.models import DLMHead
    head = DLMHead(out_channels=2, in_channels=4, vec_channels=8)
    assert type(head.loss_module) is type(_loss())


def _inputs(seed=0, sigma_logit_scale=1.0):
    """Leaf tensors (B, K, ...) as the head would give them (float32)."""
    g = torch.Generator().manual_seed(seed)
    heatmaps = torch.rand(B, K, HM, HM, generator=g).requires_grad_()
    gt_heatmaps = torch.rand(B, K, HM, HM, generator=g)
    mu = (0.5 + 0.1 * torch.randn(B, K, 2, generator=g)).requires_grad_()
    logits = (sigma_logit_scale * torch.randn(B, K, 2, generator=g))
    logits.requires_grad_()
    gt = torch.rand(B, K, 2, generator=g)
    weights = torch.ones(B, K)
    return heatmaps, gt_heatmaps, mu, logits, gt, weights


def _sigma(logits):
    return torch.sigmoid(logits.float()) + 1e-4


def test_identity_flow_gives_gaussian_nll():
    """With an identity flow I = Q, so P is N(mu, diag(sigma^2))."""
    loss = _loss()
    flow = _flow(identity=True)
    mu = torch.tensor([[0.4, 0.6]])
    sigma = torch.tensor([[0.05, 0.1]])
    x = torch.tensor([[0.45, 0.5]])
    lp = loss.log_prob(x, mu, sigma, flow)
    xb = (x - mu) / sigma
    ref = (-0.5 * (xb**2).sum(-1) - math.log(2 * math.pi) -
           sigma.log().sum(-1))
    assert torch.allclose(lp, ref, atol=1e-5), \
        f'identity flow: log P {lp.item()} vs Gaussian {ref.item()}'


def test_standardised_I_has_zero_mean_unit_std():
    """I(xb) = s_x s_y G(m + s xb) is a density with mean 0 and std 1, and
    so is the mixture P = (Q + I) / 2."""
    loss = _loss(num_gh_nodes=32)
    flow = _flow()
    step = 0.1
    g = torch.arange(-8, 8, step) + step / 2
    yy, xx = torch.meshgrid(g, g, indexing='ij')
    pts = torch.stack([xx, yy], -1).reshape(-1, 2)
    with torch.no_grad():
        m, s = loss.flow_moments(flow)
        p = (flow.log_prob(m + s * pts) + s.log().sum()).exp() * step**2
        mass = p.sum()
        mean = (p[:, None] * pts).sum(0)
        std = ((p[:, None] * pts**2).sum(0)).sqrt()
    assert abs(mass - 1) < 1e-3, f'I mass {mass}'
    assert mean.abs().max() < 2e-3, f'I mean {mean.tolist()}'
    assert (std - 1).abs().max() < 2e-3, f'I std {std.tolist()}'
    with torch.no_grad():
        mix = loss.log_prob_standard(pts, flow).exp().sum() * step**2
    assert abs(mix - 1) < 1e-3, f'mixture P mass {mix}'


@pytest.mark.parametrize('weighting', ['chi', 'sum'])
def test_weighting_modes(weighting):
    heatmaps, gt_hm, mu, logits, gt, weights = _inputs()
    loss = _loss(weighting=weighting)
    flow = _flow()
    terms = loss.compute_terms(heatmaps, gt_hm, mu, _sigma(logits), gt,
                               weights, flow)
    l_h1 = ((heatmaps - gt_hm)**2).sum((-1, -2))
    l_h2 = -loss.log_prob(gt, mu, _sigma(logits), flow)
    chi = _sigma(logits).mean(-1) if weighting == 'chi' else None
    ref = (l_h1 + l_h2 if chi is None else (1 - chi) * l_h1 + chi * l_h2)
    assert torch.allclose(terms['total'], ref.mean(), atol=1e-5), \
        f'{weighting}: total {terms["total"].item()} vs {ref.mean().item()}'
    assert torch.allclose(terms['h1'], l_h1.mean(), atol=1e-6), \
        f'{weighting}: h1 term'
    assert torch.allclose(terms['h2'], l_h2.mean(), atol=1e-5), \
        f'{weighting}: h2 term'


def test_chi_carries_no_gradient():
    """d total / d sigma == chi * d L_H2 / d sigma (chi itself detached)."""
    heatmaps, gt_hm, mu, logits, gt, weights = _inputs()
    flow = _flow()
    sigma = _sigma(logits).detach().requires_grad_()
    total = _loss(weighting='chi')(heatmaps, gt_hm, mu, sigma, gt, weights,
                                   flow)
    (g_total, ) = torch.autograd.grad(total, sigma)
    sigma2 = sigma.detach().clone().requires_grad_()
    l_h2 = -_loss().log_prob(gt, mu, sigma2, flow)
    chi = sigma.detach().mean(-1)
    (g_ref, ) = torch.autograd.grad((chi * l_h2).mean(), sigma2)
    assert torch.allclose(g_total, g_ref, atol=1e-6), \
        'the gradient w.r.t. sigma has no term through chi'


def test_multi_stage_sums_h1():
    heatmaps, gt_hm, mu, logits, gt, weights = _inputs()
    loss = _loss(weighting='sum')
    flow = _flow()
    one = loss.compute_terms(heatmaps, gt_hm, mu, _sigma(logits), gt, weights,
                             flow)
    two = loss.compute_terms([heatmaps, heatmaps], gt_hm, mu, _sigma(logits),
                             gt, weights, flow)
    assert torch.allclose(two['h1'], 2 * one['h1']), 'stages are summed'
    assert torch.allclose(two['total'] - one['total'], one['h1']), \
        'one more stage adds its L_H1'


def test_zero_weight_joints_change_nothing_even_if_nan():
    heatmaps, gt_hm, mu, logits, gt, weights = _inputs()
    flow = _flow()
    weights[0, 1] = 0
    weights[1, 3] = 0
    results = []
    for poison in (0.25, float('nan')):
        gt_p, gt_hm_p = gt.clone(), gt_hm.clone()
        for b, k in ((0, 1), (1, 3)):
            gt_p[b, k] = poison
            gt_hm_p[b, k] = poison
        for p in (heatmaps, mu, logits):
            p.grad = None
        total = _loss()(heatmaps, gt_hm_p, mu, _sigma(logits), gt_p, weights,
                        flow)
        total.backward()
        results.append((total.detach(), mu.grad.clone(), logits.grad.clone(),
                        heatmaps.grad.clone()))
    (t0, *g0), (t1, *g1) = results
    assert torch.isfinite(t1), 'NaN labels on zero-weight joints: finite loss'
    assert torch.equal(t0, t1), 'zero-weight joints do not change the loss'
    for name, a, b in zip(('mu', 'sigma', 'H1'), g0, g1):
        assert torch.isfinite(b).all(), f'{name} gradient finite with NaNs'
        assert torch.equal(a, b), f'zero-weight joints change no {name} grad'


def test_all_joints_invisible_gives_finite_zero_loss_and_grads():
    heatmaps, gt_hm, mu, logits, gt, weights = _inputs()
    flow = _flow()
    gt[:] = float('nan')
    terms = _loss().compute_terms(heatmaps, gt_hm, mu, _sigma(logits), gt,
                                  torch.zeros(B, K), flow)
    assert terms['total'].item() == 0, 'no valid joint: zero loss'
    terms['total'].backward()
    params = [heatmaps, mu, logits] + list(flow.parameters())
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all(), \
            'no valid joint: every input gets a finite (zero) gradient'


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_extreme_inputs_are_finite(dtype):
    """fp16/bf16 autocast, sigma logits +-1e4, mu far outside the crop."""
    heatmaps, gt_hm, mu, logits, gt, weights = _inputs()
    flow = _flow()
    with torch.no_grad():
        logits[0] = 1e4
        logits[1] = -1e4
        mu[0, 0] = 1e6  # far outside the crop
        mu[1, 1] = -3e3
    weights[1, 2] = 0
    gt[1, 2] = float('nan')
    loss = _loss()
    with torch.autocast('cpu', dtype=dtype):
        hm_low = heatmaps.to(dtype)
        total = loss(hm_low, gt_hm, mu, _sigma(logits), gt, weights, flow)
    case = f'{dtype}'
    assert total.dtype == torch.float32, f'{case}: loss in float32'
    assert torch.isfinite(total), f'{case}: finite loss, got {total}'
    total.backward()
    for name, p in [('H1', heatmaps), ('mu', mu),
                    ('sigma logits', logits)] + list(flow.named_parameters()):
        assert torch.isfinite(p.grad).all(), f'{case}: finite grad of {name}'
    assert mu.grad[1, 1].abs().sum() > 0, \
        f'{case}: mu outside the crop is still pulled back'


def test_h2_cost_grows_with_joints_not_heatmap_size():
    """L_H2 runs the flow on the M ground-truth points only (plus the fixed
    Gauss-Hermite nodes, given here): its saved-for-backward memory is
    affine in M, about 3.2k floats per joint, and takes no heatmap at all,
    so nothing of size B*K*H*W exists on this path."""
    flow = _flow()
    loss = _loss(num_gh_nodes=8)
    moments = loss.flow_moments(flow)
    totals = []
    for n_pts in (6, 60, 600):
        saved = []

        def pack(t):
            saved.append(t.numel())
            return t

        mu = torch.rand(n_pts, 2, requires_grad=True)
        sigma = torch.full((n_pts, 2), 0.05, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss.log_prob(torch.rand(n_pts, 2), mu, sigma, flow, moments)
        totals.append(sum(saved))
    per_joint = (totals[2] - totals[1]) / 540
    ratio = (totals[2] - totals[1]) / (totals[1] - totals[0])
    assert abs(ratio - 10) < 0.1, \
        f'saved memory is affine in the number of joints {totals}'
    assert per_joint < 8 * 64 * 12, \
        f'{per_joint} saved floats per joint (flow activations only)'


@pytest.mark.parametrize(
    'kwargs',
    [dict(weighting='mean'),
     dict(weighting='constant'),
     dict(num_gh_nodes=1)])
def test_invalid_options_raise(kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        _loss(**kwargs)


@pytest.mark.parametrize('option', ['h1_reduction', 'h2_loss', 'eq5'])
def test_study_only_options_are_not_accepted(option):
    """The study's forms live in its own subclass (benchmarks/ablation)."""
    with pytest.raises(TypeError, match=option):
        _loss(**{option: 'x'})


def test_parts_sum_to_total():
    heatmaps, gt_hm, mu, logits, gt, w = _inputs()
    for kw in (dict(), dict(weighting='sum')):
        terms = _loss(**kw).compute_terms(heatmaps, gt_hm, mu, _sigma(logits),
                                          gt, w, _flow())
        assert torch.allclose(terms['total'],
                              terms['total_h1'] + terms['total_h2']), kw
        assert terms['total_h1'].requires_grad and \
            terms['total_h2'].requires_grad, kw
