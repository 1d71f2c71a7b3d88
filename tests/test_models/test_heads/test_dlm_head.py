"""Tests of DLMHead: contract, H2, loss, AMP safety, predict and flip test."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.codecs.utils import generate_unbiased_gaussian_heatmaps
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

import sadinet_mmpose  # noqa: F401  (registers; mmcv-lite placeholders)

K, C, V, HM, IN = 3, 8, 16, 16, 64
CODEC = dict(
    type='FlowHeatmapCodec',
    input_size=(IN, IN),
    heatmap_size=(HM, HM),
    sigma=2.0)


def _head(seed=0, **kwargs):
    torch.manual_seed(seed)
    cfg = dict(
        type='DLMHead',
        out_channels=K,
        in_channels=C,
        vec_channels=V,
        flow=dict(type='RealNVP2D', init_gain=0.5),
        loss=dict(type='ChiWeightedLoss', num_gh_nodes=16),
        decoder=CODEC)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _feats(batch=2, stages=1, size=HM, seed=0):
    g = torch.Generator().manual_seed(seed)
    spatial = [
        torch.randn(batch, C, size, size, generator=g) for _ in range(stages)
    ]
    return tuple(spatial) + (torch.randn(batch, V, generator=g), )


def _samples(head, batch=2, seed=0, flip_indices=(0, 2, 1)):
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(batch):
        kp = rng.uniform(8, 56, (1, K, 2)).astype(np.float32)
        enc = head.decoder.encode(kp)
        d = PoseDataSample(
            metainfo=dict(
                flip_indices=list(flip_indices), input_size=(IN, IN)))
        d.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        d.gt_instance_labels = InstanceData(
            keypoint_labels=torch.from_numpy(enc['keypoint_labels']),
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        samples.append(d)
    return samples


def test_forward_contract_without_data_samples():
    head = _head()
    assert (head.in_channels, head.vec_channels, head.out_channels) == \
        (C, V, K), 'exposes in/vec/out channels'
    heatmaps, mu, sigma = head(_feats())
    assert len(heatmaps) == 1 and heatmaps[0].shape == (2, K, HM, HM), \
        'one H1 (B, K, H, W)'
    assert mu.shape == sigma.shape == (2, K, 2), 'mu, sigma (B, K, 2)'
    assert mu.dtype == sigma.dtype == torch.float32, 'mu, sigma float32'
    assert (sigma > 0).all() and (sigma <= 1 + 1e-4).all(), 'sigma range'


def test_multi_stage_deconv():
    head = _head(
        num_stages=2, deconv_out_channels=(4, ), deconv_kernel_sizes=(4, ))
    feats = _feats(stages=3, size=HM // 2)  # one extra feature is ignored
    heatmaps, mu, _ = head(feats)
    assert len(heatmaps) == 2 and heatmaps[-1].shape == (2, K, HM, HM), \
        'two stages, deconv doubles the size'
    losses = head.loss(feats, _samples(head))
    losses['loss_kpt'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None, f'2 stages: {name} no grad'


def test_construction_and_input_errors():
    with pytest.raises(TypeError, match='mu_source'):
        _head(mu_source='soft_argmax')
    with pytest.raises(ValueError, match='deconv_kernel_sizes'):
        _head(deconv_out_channels=(4, ), deconv_kernel_sizes=None)
    with pytest.raises(TypeError, match='ChiWeightedLoss'):
        _head(loss=dict(type='KeypointMSELoss'))
    head = _head()
    with pytest.raises(ValueError, match=r'\(W, H\)=\(8, 8\).*\(16, 16\)'):
        head(_feats(size=8))  # names both sizes
    with pytest.raises(ValueError, match='vec_channels=16'):
        head(_feats()[:-1] + (torch.randn(2, 5), ))
    with pytest.raises(ValueError, match='at least'):
        head(_feats()[-1:])


def test_h2_with_identity_flow_is_unbiased_gaussian():
    head = _head(flow=dict(type='RealNVP2D', identity_init=True))
    mu = torch.tensor([[[0.3, 0.55], [5.5 / HM, 9.5 / HM], [0.5, 0.5]]])
    sig = torch.tensor([[[0.1, 0.1], [0.05, 0.05], [0.2, 0.2]]])
    h2 = head.render_h2(mu, sig, (HM, HM))
    for k in range(K):
        # label l is heatmap coordinate l * W - 0.5 (pixel centres)
        ref, _ = generate_unbiased_gaussian_heatmaps(
            (HM, HM), (mu[0, k] * HM - 0.5).numpy()[None, None],
            np.ones((1, 1), np.float32), float(sig[0, k, 0] * HM))
        np.testing.assert_allclose(
            h2[0, k].numpy(),
            ref[0],
            atol=1e-5,
            err_msg=f'joint {k}: H2 == unbiased Gaussian, std sigma*W')
    # mu of joint 1 on a pixel centre: H2 peaks at exactly 1 there
    assert abs(h2[0, 1, 9, 5].item() - 1) < 1e-6, 'H2 is 1 at mu'
    assert h2[0, 1].max().item() <= 1 + 1e-6, 'H2 peak is 1'


def test_h2_is_one_at_mu_and_matches_loss_density():
    """exp(-L_H2) at the GT equals the rendered density there."""
    head = _head()
    mu = torch.tensor([[[7.5 / HM, 6.5 / HM]]])  # pixel (7, 6)'s centre
    sig = torch.tensor([[[0.12, 0.08]]])
    flow, loss = head.flow, head.loss_module
    with torch.no_grad():
        h2 = _head_render(head, mu, sig)
        p_mu = loss.log_prob(mu, mu, sig, flow).exp()
    assert abs(h2[0, 0, 6, 7].item() - 1) < 1e-5, 'H2 is 1 at mu'
    for (i, j) in ((9, 5), (4, 12), (6, 7)):
        gt = torch.tensor([[[(j + 0.5) / HM, (i + 0.5) / HM]]])
        terms = loss.compute_terms(
            torch.zeros(1, 1, HM, HM), torch.zeros(1, 1, HM, HM), mu, sig, gt,
            torch.ones(1, 1), flow)
        dens = torch.exp(-terms['h2'])
        rendered = h2[0, 0, i, j] * p_mu[0, 0]
        assert torch.allclose(dens, rendered, rtol=1e-4), \
            f'pixel ({i}, {j}): exp(-L_H2) {dens.item()} vs rendered ' \
            f'{rendered.item()}'


def _head_render(head, mu, sig):
    return head.render_h2(mu, sig, (HM, HM))


def test_loss_keys_gradients_and_no_rendering(monkeypatch):
    head = _head()
    feats = tuple(f.requires_grad_() for f in _feats())

    def no_render(*args, **kwargs):
        raise AssertionError('loss must not render H2')

    monkeypatch.setattr(head, 'render_h2', no_render)
    points = []
    for name in ('forward', 'inverse'):
        orig = getattr(head.flow, name)

        def counted(x, _orig=orig):
            points.append(x.shape[:-1].numel())
            return _orig(x)

        monkeypatch.setattr(head.flow, name, counted)
    losses = head.loss(feats, _samples(head))
    assert set(losses) == {
        'loss_kpt', 'h1_mse', 'h2_nll', 'chi_mean', 'sigma_px', 'acc_pose'
    }, f'loss keys {set(losses)}'
    assert [k for k in losses if 'loss' in k] == ['loss_kpt'], \
        'only the loss key contains "loss"'
    assert sum(points) == 2 * K + 16 * 16, \
        f'flow evaluated on B*K GT points + GH nodes only, got {points}'
    losses['loss_kpt'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), \
            f'{name} receives a finite gradient'
        if not name.startswith('flow.'):
            assert p.grad.abs().sum() > 0, f'{name} gradient is non-zero'
    assert all(f.grad is not None for f in feats), 'feats get gradients'


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_loss_under_autocast_with_extreme_values(dtype):
    head = _head()
    with torch.no_grad():
        head.sigma_fc.weight.zero_()
        head.sigma_fc.bias.copy_(torch.tensor([1e4, -1e4] * K))
        head.mu_fc.bias[0] = 1e6  # joint 0 far outside the crop
    samples = _samples(head)
    samples[1].gt_instance_labels.keypoint_weights[0, 2] = 0
    samples[1].gt_instance_labels.keypoint_labels[0, 2] = float('nan')
    feats = _feats()
    with torch.autocast('cpu', dtype=dtype):
        losses = head.loss(feats, samples)
    for key, v in losses.items():
        assert v.dtype == torch.float32 and torch.isfinite(v), \
            f'{dtype}: {key} = {v} is finite float32'
    losses['loss_kpt'].backward()
    for name, p in head.named_parameters():
        assert torch.isfinite(p.grad).all(), f'{dtype}: {name} grad finite'


@pytest.mark.parametrize('source', ['h1', 'mu', 'blend'])
def test_predict_outputs(source):
    head = _head()
    preds, fields = head.predict(
        _feats(), _samples(head),
        dict(decode_source=source, output_heatmaps=True))
    assert len(preds) == len(fields) == 2, f'{source}: one per sample'
    p = preds[0]
    assert p.keypoints.shape == (1, K, 2), f'{source}: keypoints (1, K, 2)'
    assert p.keypoint_scores.shape == (1, K), f'{source}: scores (1, K)'
    assert p.keypoint_sigmas.shape == (1, K, 2), f'{source}: sigmas'
    _, mu, sigma = head(_feats())
    np.testing.assert_allclose(
        p.keypoint_sigmas,
        sigma[:1].detach().numpy() * IN,
        rtol=1e-5,
        err_msg=f'{source}: sigmas in input pixels')
    if source == 'mu':
        np.testing.assert_allclose(
            p.keypoints,
            mu[:1].detach().numpy() * IN - 0.5,
            rtol=1e-5,
            err_msg='mu decoding gives mu * input_size - 0.5')
    assert fields[0].heatmaps.shape == fields[0].heatmaps_h2.shape == \
        (K, HM, HM), f'{source}: H1 and H2 (K, H, W)'


def test_predict_without_heatmaps_or_h2(monkeypatch):
    head = _head()
    preds = head.predict(_feats(), _samples(head), {})
    assert isinstance(preds, list) and len(preds) == 2, 'list of preds'

    def no_render(*args, **kwargs):
        raise AssertionError('output_h2=False must not render H2')

    monkeypatch.setattr(head, 'render_h2', no_render)
    _, fields = head.predict(_feats(), _samples(head),
                             dict(output_heatmaps=True, output_h2=False))
    assert 'heatmaps' in fields[0] and 'heatmaps_h2' not in fields[0], \
        'output_h2=False: H1 only'


def test_flip_test_h1_consistency_on_mirrored_features():
    """With a 1x1-conv H1 and features that are exact mirrors, flip test
    reproduces the plain prediction (identity flip_indices, no shift)."""
    head = _head()
    feats = _feats(batch=1)
    spatial, f = feats[0], feats[1]
    feats_flip = (spatial.flip(-1), f)
    samples = _samples(head, batch=1, flip_indices=(0, 1, 2))
    plain = head.predict(feats, samples, {})[0]
    flip = head.predict([feats, feats_flip], samples,
                        dict(flip_test=True, shift_heatmap=False))[0]
    np.testing.assert_allclose(
        flip.keypoints,
        plain.keypoints,
        atol=1e-4,
        err_msg='flip test on mirrored features keeps the H1 keypoints')


def test_flip_test_undoes_flip_of_mu_sigma_and_indices(monkeypatch):
    """A mirror-equivariant model: the flipped input gives mirrored H1,
    mirrored mu (x -> 1 - 1/w - x) and swapped left/right joints. Flip test
    must then reproduce the plain prediction for every decode source."""
    head = _head()
    flip_indices = [0, 2, 1]
    samples = _samples(head, batch=2, flip_indices=flip_indices)
    feats = _feats()
    heatmaps, mu, sigma = head(feats)
    h1 = heatmaps[-1].detach()
    mu_m = mu.detach().clone()
    mu_m[..., 0] = 1 - 1 / IN - mu_m[..., 0]
    mirrored = ([h1.flip(-1)[:, flip_indices]], mu_m[:, flip_indices],
                sigma.detach()[:, flip_indices])
    original = head.forward
    monkeypatch.setattr(head, 'forward', lambda x: mirrored
                        if x is None else original(x))
    for source in ('h1', 'mu', 'blend'):
        cfg = dict(decode_source=source, output_heatmaps=True)
        plain, plain_f = head.predict(feats, samples, cfg)
        flip, flip_f = head.predict([feats, None], samples,
                                    dict(cfg, flip_test=True))
        for a, b in zip(plain, flip):
            np.testing.assert_allclose(
                b.keypoints,
                a.keypoints,
                atol=1e-4,
                err_msg=f'{source}: flip test keypoints')
            np.testing.assert_allclose(
                b.keypoint_sigmas,
                a.keypoint_sigmas,
                rtol=1e-5,
                err_msg=f'{source}: flip test sigmas')
        torch.testing.assert_close(
            flip_f[0].heatmaps_h2,
            plain_f[0].heatmaps_h2,
            atol=1e-5,
            rtol=1e-4,
            msg=f'{source}: flip test H2')


def test_all_joints_invisible_gives_zero_loss_and_finite_grads():
    head = _head()
    samples = _samples(head)
    for d in samples:
        d.gt_instance_labels.keypoint_weights[:] = 0
        d.gt_instance_labels.keypoint_labels[:] = float('nan')
    losses = head.loss(_feats(), samples)
    for key, v in losses.items():
        assert torch.isfinite(v), f'all invisible: {key} = {v} finite'
    assert losses['loss_kpt'].item() == 0, 'all invisible: zero loss'
    losses['loss_kpt'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), \
            f'all invisible: {name} gets a finite gradient'
