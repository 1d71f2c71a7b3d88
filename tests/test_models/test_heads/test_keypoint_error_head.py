"""The error head: its features, its fit on known truth, and how the DLM
head reports it."""
import numpy as np
import pytest
import torch

from sadinet_mmpose.codecs import merging
from sadinet_mmpose.models.heads import DLMHead, KeypointErrorHead

K, C, H, W = 4, 8, 16, 16


def _inputs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, C, 8, 8,
                       generator=g), torch.rand(n, K, H, W, generator=g),
            torch.rand(n, K, 2, generator=g),
            0.01 + 0.1 * torch.rand(n, K, 2, generator=g))


def _ranks(x):
    return np.argsort(np.argsort(x))


def test_features_read_the_cell_of_the_maximum():
    head = KeypointErrorHead(K, C)
    spatial, h1, mu, sigma = _inputs(3)
    h1[1, 2] = 0.
    h1[1, 2, 9, 5] = 2.  # joint 2 of sample 1 peaks at x=5, y=9
    feat = head.features(spatial, h1, mu, sigma)
    assert feat.shape == (3, K, C + 2 * 25 + 5 + K)
    # the spatial map is half the heatmap's size: cell (x=2, y=4)
    assert torch.equal(feat[1, 2, :C], spatial[1, :, 4, 2])
    patch = feat[1, 2, C:C + 25].reshape(5, 5)
    assert patch[2, 2] == 1 and patch.sum() == 1  # over the maximum
    assert feat[1, 2, C + 50] == 2.  # the maximum
    cell = (torch.tensor([5., 9.]) + 0.5) / 16
    assert torch.allclose(feat[1, 2, C + 53:C + 55],
                          (cell - mu[1, 2]) / sigma[1, 2])
    assert torch.equal(feat[1, 2, -K:], torch.eye(K)[2])


def test_fit_recovers_a_scale_that_one_feature_carries():
    """Errors drawn with a known per-joint scale that grows with the
    feature map's value at the maximum: the fitted scales rank the joints
    as the truth (Spearman > 0.9) at the right size (median ratio 1 +-
    0.2)."""
    head = KeypointErrorHead(K, C)
    spatial, h1, mu, sigma = _inputs(3000)
    feat = head.features(spatial, h1, mu, sigma)
    true = (0.3 + 3 * feat[..., :1]).expand(-1, -1, 2)  # heatmap px
    g = torch.Generator().manual_seed(1)
    u = torch.rand(true.shape, generator=g) - 0.5
    err = -true * u.sign() * torch.log1p(-2 * u.abs())  # Laplace
    head.fit(
        feat,
        err / W,
        torch.ones(3000, K, dtype=torch.bool), (W, H),
        epochs=15)
    assert head.is_fitted
    test = _inputs(500, seed=2)
    got = head(*test) * W
    truth = 0.3 + 3 * head.features(*test)[..., 0]
    rho = np.corrcoef(
        _ranks(got[..., 0].flatten().numpy()),
        _ranks(truth.flatten().numpy()))[0, 1]
    assert rho > 0.9, rho
    ratio = float((got[..., 0] / truth).median())
    assert abs(ratio - 1) < 0.2, ratio


def test_fit_refuses_no_visible_joints_and_leaves_no_gradients():
    head = KeypointErrorHead(K, C)
    spatial, h1, mu, sigma = _inputs(4)
    feat = head.features(spatial, h1, mu, sigma)
    with pytest.raises(ValueError, match='visible joints'):
        head.fit(feat, torch.zeros(4, K, 2), torch.zeros(4, K, dtype=bool),
                 (W, H))
    assert not head.is_fitted
    head.fit(
        feat,
        torch.ones(4, K, 2) * 0.01,
        torch.ones(4, K, dtype=bool), (W, H),
        epochs=1)
    assert not any(p.requires_grad for p in head.parameters())


def _dlm(error_head=True):
    torch.manual_seed(0)
    return DLMHead(
        out_channels=K,
        in_channels=C,
        vec_channels=16,
        decoder=dict(
            type='FlowHeatmapCodec',
            input_size=(64, 64),
            heatmap_size=(W, H),
            sigma=1.5),
        error_head=dict(
            type='KeypointErrorHead') if error_head else None).eval()


def _feats(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, C, H, W,
                       generator=g), torch.rand(n, 16, generator=g))


def test_dlm_head_reports_the_error_head_once_fitted():
    head = _dlm()
    feats = _feats()
    dist = head.predict_distribution(feats, None, {})
    assert 'error_sigma' not in dist, 'an unfitted error head is reported'
    head.error_head.fitted.fill_(1.)
    dist = head.predict_distribution(feats, None, {})
    heatmaps, mu, sigma = head.forward(feats)
    want = head.error_head(feats[0], heatmaps[-1], mu, sigma)
    assert torch.allclose(dist['error_sigma'], want)
    assert torch.equal(head.reported_sigma(dist, 'h1'), dist['error_sigma'])
    assert torch.equal(head.reported_sigma(dist, 'mu'), dist['sigma'])


def test_flip_merge_merges_the_error_scales_as_sigma():
    head = _dlm()
    head.error_head.fitted.fill_(1.)
    feats = [_feats(), _feats(seed=1)]
    flip = [1, 0, 3, 2]
    h1, mu, sigma, err = merging.flip_merge(head.forward_with_error, feats,
                                            flip, {}, 64)
    e0 = head.forward_with_error(feats[0])[3]
    e1 = head.forward_with_error(feats[1])[3]
    assert torch.allclose(err, 0.5 * (e0 + e1[:, flip]))
    assert merging.flip_merge(head.forward, feats, flip, {}, 64)[2].shape == \
        sigma.shape


def test_checkpoint_without_error_head_loads_it_unfitted():
    from sadinet_mmpose.engine import checkpoint_fit
    old = _dlm(error_head=False).state_dict()
    head = _dlm()
    head.error_head.fitted.fill_(1.)
    head.load_state_dict(old, strict=True)
    assert not head.error_head.is_fitted
    fit = checkpoint_fit(head.state_dict(), old)
    assert fit['fit'] == fit['total'] and not fit['missing']
    # a checkpoint with part of the error head is still a mismatch
    partial = dict(old, **{'error_head.fitted': torch.ones(1)})
    assert checkpoint_fit(head.state_dict(), partial)['missing']


def test_training_leaves_the_error_head_alone():
    """A training step of the DLM head's loss (Adam over every parameter,
    as the runner's optimiser) changes no weight of the error head."""
    from helpers import make_batch
    head = _dlm().train()
    _, samples = make_batch(
        dict(
            type='FlowHeatmapCodec',
            input_size=(64, 64),
            heatmap_size=(W, H),
            sigma=1.5), 2, K)
    before = {k: v.clone() for k, v in head.error_head.state_dict().items()}
    opt = torch.optim.Adam(head.parameters(), lr=0.1)
    losses = head.loss(_feats(), samples, dict(compute_acc=False))
    opt.zero_grad()
    losses['loss_kpt'].backward()
    opt.step()
    assert head.mu_fc.weight.grad is not None
    for k, v in head.error_head.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_an_error_head_leaves_the_initialisation_unchanged():
    """Same seed, with and without an error head: every other weight (after
    mmengine's init_weights) is the same, so training is too."""
    heads = []
    for with_error in (False, True):
        torch.manual_seed(0)
        head = _dlm(error_head=with_error)
        head.init_weights()
        heads.append(head.state_dict())
    assert set(heads[0]) < set(heads[1])
    for k, v in heads[0].items():
        assert torch.equal(v, heads[1][k]), k
