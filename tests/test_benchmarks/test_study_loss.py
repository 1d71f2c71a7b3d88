"""Tests of the study's forms of the loss (StudyChiWeightedLoss): the
constant weight, the per-pixel mean of L_H1 and the windowed MSE of H2."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS

import sadinet_mmpose  # noqa: F401  (registers; mmcv-lite placeholders)
from helpers import REPO, load_study_loss
from helpers import seeded_flow as _flow

load_study_loss()
B, K, HM = 2, 4, 8


def _loss(**kwargs):
    kwargs.setdefault('num_gh_nodes', 16)
    return MODELS.build(dict(type='StudyChiWeightedLoss', **kwargs))


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    heatmaps = torch.rand(B, K, HM, HM, generator=g).requires_grad_()
    gt_heatmaps = torch.rand(B, K, HM, HM, generator=g)
    mu = (0.5 + 0.1 * torch.randn(B, K, 2, generator=g)).requires_grad_()
    logits = torch.randn(B, K, 2, generator=g).requires_grad_()
    gt = torch.rand(B, K, 2, generator=g)
    return heatmaps, gt_heatmaps, mu, logits, gt, torch.ones(B, K)


def _sigma(logits):
    return torch.sigmoid(logits.float()) + 1e-4


def test_defaults_are_the_shipped_loss():
    """With no study option the subclass computes the shipped loss."""
    heatmaps, gt_hm, mu, logits, gt, w = _inputs()
    args = (heatmaps, gt_hm, mu, _sigma(logits), gt, w, _flow())
    study = _loss().compute_terms(*args)
    shipped = MODELS.build(dict(type='ChiWeightedLoss',
                                num_gh_nodes=16)).compute_terms(*args)
    for key in ('total', 'h1', 'h2', 'chi'):
        assert torch.equal(study[key], shipped[key]), key


@pytest.mark.parametrize('chi_value', [0., 0.3, 1.])
def test_constant_weight(chi_value):
    heatmaps, gt_hm, mu, logits, gt, w = _inputs()
    loss = _loss(
        weighting='constant', chi_value=chi_value, h1_reduction='mean')
    flow = _flow()
    terms = loss.compute_terms(heatmaps, gt_hm, mu, _sigma(logits), gt, w,
                               flow)
    l_h1 = ((heatmaps - gt_hm)**2).mean((-1, -2))
    l_h2 = -loss.log_prob(gt, mu, _sigma(logits), flow)
    ref = (1 - chi_value) * l_h1 + chi_value * l_h2
    assert torch.allclose(terms['total'], ref.mean(), atol=1e-5)
    assert torch.allclose(terms['chi'], torch.tensor(chi_value))


def test_chi_zero_gives_the_flow_no_gradient():
    """(k0): chi = 0 trains on L_H1 alone; mu, sigma and the flow get no
    gradient."""
    heatmaps, gt_hm, mu, logits, gt, w = _inputs()
    flow = _flow()
    _loss(
        weighting='constant',
        chi_value=0.)(heatmaps, gt_hm, mu, _sigma(logits), gt, w,
                      flow).backward()
    assert heatmaps.grad.abs().sum() > 0
    for name, p in [('mu', mu),
                    ('sigma', logits)] + list(flow.named_parameters()):
        assert p.grad is None or not p.grad.any(), name


def test_parts_sum_to_total():
    heatmaps, gt_hm, mu, logits, gt, w = _inputs()
    for kw in (dict(h2_loss='mse'), dict(h1_reduction='mean'),
               dict(weighting='constant')):
        terms = _loss(**kw).compute_terms(heatmaps, gt_hm, mu, _sigma(logits),
                                          gt, w, _flow())
        assert torch.allclose(terms['total'],
                              terms['total_h1'] + terms['total_h2']), kw


def test_h1_sum_is_mean_times_pixels():
    heatmaps, gt_hm, mu, logits, gt, w = _inputs()
    args = (heatmaps, gt_hm, mu, _sigma(logits), gt, w, _flow())
    mean = _loss(
        weighting='constant', chi_value=0.,
        h1_reduction='mean').compute_terms(*args)
    summed = _loss(weighting='constant', chi_value=0.).compute_terms(*args)
    assert torch.allclose(
        summed['total'], mean['total'] * HM * HM,
        rtol=1e-5), 'h1_reduction=sum: H*W times the mean'


@pytest.mark.parametrize(
    'path',
    sorted(
        glob.glob(osp.join(REPO, 'benchmarks', 'ablation', 'configs',
                           '*.py'))))
def test_study_configs_build_their_loss(path):
    """Every DLM variant of the study builds the study's loss class with
    the options its config names."""
    cfg = Config.fromfile(path)
    head = cfg.model.head
    if head.type != 'DLMHead':
        return
    loss = MODELS.build(head.loss)
    assert type(loss).__name__ == 'StudyChiWeightedLoss', path
    for key, value in head.loss.items():
        if key != 'type':
            assert getattr(loss, key) == value, (path, key)


# h2_loss='mse': the windowed MSE of the rendered H2
def _gaussian_targets(gt, size, sigma_px=1.5):
    """Gaussian targets (B, K, H, W) at heatmap pixel ``gt * size - 0.5``
    (the codec's pixel-centre grid)."""
    xs = torch.arange(size, dtype=torch.float32)
    cx = gt[..., 0, None, None] * size - 0.5
    cy = gt[..., 1, None, None] * size - 0.5
    return torch.exp(-((xs[None, None, None, :] - cx)**2 +
                       (xs[None, None, :, None] - cy)**2) / (2 * sigma_px**2))


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
    dict(chi_value=2.),
    dict(weighting='mean'),
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
