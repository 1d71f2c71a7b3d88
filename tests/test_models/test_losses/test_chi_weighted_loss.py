"""Tests of ChiWeightedLoss: the density, the weighting, numerical safety."""
import sadinet_mmpose  # noqa: F401  (registers; mmcv-lite placeholders)
import math

import pytest
import torch

from mmpose.registry import MODELS

B, K, HM = 2, 4, 8


def _flow(identity=False, seed=0):
    torch.manual_seed(seed)
    return MODELS.build(
        dict(type='RealNVP2D', init_gain=0.5, identity_init=identity))


def _loss(**kwargs):
    """The loss; 16x16 Gauss-Hermite nodes keep the tests fast. The formula
    tests spell L_H1 as the per-pixel mean, so that is set unless given."""
    kwargs.setdefault('num_gh_nodes', 16)
    kwargs.setdefault('h1_reduction', 'mean')
    return MODELS.build(dict(type='ChiWeightedLoss', **kwargs))


def test_default_sums_h1_over_the_pixels():
    """The class default is the measured one (docs/ablation.md), and so is
    a DLMHead's default loss."""
    assert MODELS.build(dict(type='ChiWeightedLoss')).h1_reduction == 'sum'
    from sadinet_mmpose.models import DLMHead
    head = DLMHead(out_channels=2, in_channels=4, vec_channels=8)
    assert head.loss_module.h1_reduction == 'sum'


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


@pytest.mark.parametrize('combine', ['mixture', 'product'])
def test_standardised_I_has_zero_mean_unit_std(combine):
    """I(xb) = s_x s_y G(m + s xb) is a density with mean 0 and std 1."""
    loss = _loss(combine=combine, num_gh_nodes=32)
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
    assert abs(mass - 1) < 1e-3, f'{combine}: I mass {mass}'
    assert mean.abs().max() < 2e-3, f'{combine}: I mean {mean.tolist()}'
    assert (std - 1).abs().max() < 2e-3, f'{combine}: I std {std.tolist()}'
    if combine == 'mixture':
        with torch.no_grad():
            mix = loss.log_prob_standard(pts, flow).exp().sum() * step**2
        assert abs(mix - 1) < 1e-3, f'mixture P mass {mix}'


@pytest.mark.parametrize('weighting', ['chi', 'sum', 'constant'])
def test_weighting_modes(weighting):
    heatmaps, gt_hm, mu, logits, gt, weights = _inputs()
    loss = _loss(weighting=weighting, chi_value=0.3)
    flow = _flow()
    terms = loss.compute_terms(heatmaps, gt_hm, mu, _sigma(logits), gt,
                               weights, flow)
    l_h1 = ((heatmaps - gt_hm)**2).mean((-1, -2))
    l_h2 = -loss.log_prob(gt, mu, _sigma(logits), flow)
    chi = {
        'chi': _sigma(logits).mean(-1),
        'constant': torch.full((B, K), 0.3),
        'sum': None
    }[weighting]
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


@pytest.mark.parametrize('combine', ['mixture', 'product'])
@pytest.mark.parametrize('eq5', ['standardised', 'literal'])
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_extreme_inputs_are_finite(dtype, eq5, combine):
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
    loss = _loss(eq5=eq5, combine=combine)
    with torch.autocast('cpu', dtype=dtype):
        hm_low = heatmaps.to(dtype)
        total = loss(hm_low, gt_hm, mu, _sigma(logits), gt, weights, flow)
    case = f'{dtype}, {eq5}, {combine}'
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


def test_invalid_options_raise():
    for kwargs in (dict(weighting='mean'), dict(combine='sum'),
                   dict(eq5='paper'), dict(chi_value=2.)):
        with pytest.raises(ValueError):
            _loss(**kwargs)


# ----------------------------------------------------------------------
# h2_loss='mse' (windowed), h1_reduction, the H1 / H2 parts
# ----------------------------------------------------------------------
def _gaussian_targets(gt, size, sigma_px=1.5):
    """Gaussian targets (B, K, H, W) at heatmap pixel ``gt * size - 0.5``
    (the codec's pixel-centre grid)."""
    xs = torch.arange(size, dtype=torch.float32)
    cx = gt[..., 0, None, None] * size - 0.5
    cy = gt[..., 1, None, None] * size - 0.5
    return torch.exp(-((xs[None, None, None, :] - cx)**2 +
                       (xs[None, None, :, None] - cy)**2) / (2 * sigma_px**2))


def test_parts_sum_to_total():
    heatmaps, gt_hm, mu, logits, gt, w = _inputs()
    for kw in (dict(), dict(weighting='sum'), dict(h2_loss='mse'),
               dict(h1_reduction='sum')):
        terms = _loss(**kw).compute_terms(heatmaps, gt_hm, mu, _sigma(logits),
                                          gt, w, _flow())
        assert torch.allclose(terms['total'],
                              terms['total_h1'] + terms['total_h2']), kw
        assert terms['total_h1'].requires_grad and \
            terms['total_h2'].requires_grad, kw


def test_h1_sum_is_mean_times_pixels():
    heatmaps, gt_hm, mu, logits, gt, w = _inputs()
    args = (heatmaps, gt_hm, mu, _sigma(logits), gt, w, _flow())
    mean = _loss(weighting='constant', chi_value=0.).compute_terms(*args)
    summed = _loss(
        weighting='constant', chi_value=0.,
        h1_reduction='sum').compute_terms(*args)
    assert torch.allclose(
        summed['total'], mean['total'] * HM * HM,
        rtol=1e-5), 'h1_reduction=sum: H*W times the mean'


def test_h2_mse_matches_dense_render_in_window():
    """The windowed MSE equals the dense H2 (the head's render) on the same
    window pixels: H2 at mu against H2 at the truth, plus H2 at the truth
    against the target."""
    size, r = 16, 2
    g = torch.Generator().manual_seed(3)
    gt = 0.2 + 0.6 * torch.rand(1, 3, 2, generator=g)
    target = _gaussian_targets(gt, size)[0]  # (3, H, W)
    mu = gt[0] + 0.02
    sigma = torch.full((3, 2), 0.08)
    loss = _loss(h2_loss='mse', mse_window=2 * r + 1)
    flow = _flow()
    got = loss.window_h2_mse(target, gt[0], mu, sigma, flow)
    # pixel centres: the label of heatmap pixel i is (i + 0.5) / size
    ys, xs = torch.meshgrid(
        (torch.arange(size) + 0.5) / size, (torch.arange(size) + 0.5) / size,
        indexing='ij')
    grid = torch.stack([xs, ys], -1)

    def dense(centre, j):
        lp = loss.log_prob(grid, centre, sigma[j], flow)
        return torch.exp(lp - loss.log_prob(centre, centre, sigma[j], flow))

    for j in range(3):
        h2_mu, h2_gt = dense(mu[j], j), dense(gt[0, j], j)
        cx, cy = torch.round(gt[0, j] * size - 0.5).long().tolist()
        win = (slice(cy - r, cy + r + 1), slice(cx - r, cx + r + 1))
        want = ((h2_mu[win] - h2_gt[win])**2).mean() + \
            ((h2_gt[win] - target[j][win])**2).mean()
        assert torch.allclose(got[j], want, atol=1e-6), \
            f'joint {j}: windowed {got[j].item()} vs dense {want.item()}'


def test_h2_mse_leaves_out_pixels_outside_the_heatmap():
    size = 8
    gt = torch.tensor([[0.0, 0.0]])  # a corner: most of the window is out
    target = _gaussian_targets(gt[None], size)[0]
    loss = _loss(h2_loss='mse', mse_window=5)
    val = loss.window_h2_mse(target, gt, gt.clone(), torch.full((1, 2), 0.1),
                             _flow(identity=True))
    assert torch.isfinite(val).all()
    # the 3x3 in-map pixels of the 5x5 window only: an identity flow with
    # sigma 0.1 * 8 = 0.8 px is exact at the centre (0 error there)
    assert val.item() > 0


def test_h2_mse_gradients_reach_mu_sigma_and_flow():
    heatmaps, _, mu, logits, gt, w = _inputs()
    gt_hm = _gaussian_targets(gt, HM)
    flow = _flow()
    loss = _loss(
        h2_loss='mse', mse_window=3, weighting='constant', chi_value=1.)
    loss(heatmaps, gt_hm, mu, _sigma(logits), gt, w, flow).backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0, 'mu'
    assert logits.grad is not None and logits.grad.abs().sum() > 0, 'sigma'
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in flow.parameters()), 'flow'


def test_h2_mse_memory_is_bounded_by_the_window():
    """Only 2*B*K*window**2 points (+ 2*B*K references) go through the
    flow, whatever the heatmap size."""
    calls = []
    flow = _flow()
    orig = flow.log_prob

    def counting(x):
        calls.append(x.shape[:-1].numel())
        return orig(x)

    flow.log_prob = counting
    size, window = 64, 5
    g = torch.Generator().manual_seed(0)
    gt = 0.2 + 0.6 * torch.rand(B, K, 2, generator=g)
    gt_hm = _gaussian_targets(gt, size)
    heatmaps = torch.rand(B, K, size, size)
    loss = _loss(h2_loss='mse', mse_window=window)
    loss(heatmaps, gt_hm, gt.clone(), torch.full((B, K, 2), 0.1), gt,
         torch.ones(B, K), flow)
    nodes = loss.num_gh_nodes**2  # the moments' Gauss-Hermite points
    per_joint = [c for c in calls if c != nodes]
    assert sum(per_joint) == 2 * B * K * (window**2 + 1), \
        f'flow saw {per_joint} points, want {2 * B * K * (window**2 + 1)}'
    assert max(calls) < B * K * size * size


@pytest.mark.parametrize('kwargs', [
    dict(h2_loss='l1'),
    dict(h1_reduction='max'),
    dict(mse_window=4),
    dict(mse_window=0)
])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        _loss(**kwargs)


@pytest.mark.parametrize('identity', [True, False])
def test_h2_mse_is_smallest_at_the_truth_and_pulls_mu_to_it(identity):
    """For every sigma (1, 2, 4 heatmap px) and offset (1, 2, 3 px, along
    x, y and the diagonal) of mu from a ground truth off the pixel grid,
    the windowed MSE is larger than at mu = gt, and its gradient in mu
    points away from gt (descent moves mu toward it)."""
    size = 32
    loss = _loss(h2_loss='mse')
    flow = _flow(identity=identity)
    gt = torch.tensor([[13.3 / size, 17.8 / size]])  # (1, 2), off-grid
    target = _gaussian_targets(gt[None], size)[0]
    for sigma_px in (1., 2., 4.):
        sigma = torch.full((1, 2), sigma_px / size)
        at_gt = loss.window_h2_mse(target, gt, gt.clone(), sigma, flow)
        for off_px in (1., 2., 3.):
            for direction in ((1., 0.), (0., -1.), (0.7071, 0.7071)):
                d = torch.tensor([direction]) * off_px / size
                mu = (gt + d).requires_grad_()
                val = loss.window_h2_mse(target, gt, mu, sigma, flow)
                assert val.item() > at_gt.item() + 1e-7, \
                    (f'sigma {sigma_px} px, offset {off_px} px '
                     f'{direction}: {val.item()} <= {at_gt.item()} at gt')
                grad, = torch.autograd.grad(val.sum(), mu)
                assert (grad * d).sum().item() > 0, \
                    (f'sigma {sigma_px} px, offset {off_px} px '
                     f'{direction}: the gradient does not pull mu to gt')
