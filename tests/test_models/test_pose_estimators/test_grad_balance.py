"""Gradient-balance diagnostics of DLM models (grad_h1, grad_h2,
grad_ratio), opt-in through GradBalanceHook."""
from types import SimpleNamespace

import torch
from mmpose.registry import MODELS

import sadinet_mmpose  # noqa: F401
from helpers import load_study_loss, make_batch  # noqa: E402  (tests/ on path)

CODEC = dict(
    type='FlowHeatmapCodec',
    input_size=(64, 64),
    heatmap_size=(16, 16),
    sigma=1.5)


def _model(loss=None, **head):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='MSTopdownPoseEstimator',
            data_preprocessor=dict(
                type='PoseDataPreprocessor',
                mean=[0., 0., 0.],
                std=[1., 1., 1.]),
            backbone=dict(
                type='RFMHourglass',
                downsample_times=4,
                num_stacks=1,
                stage_channels=(8, 8, 8, 8, 8),
                stage_blocks=(1, 1, 1, 1, 1),
                feat_channel=8,
                multiscale_out=True,
                ms_channels=(4, 8, 8, 8)),
            neck=dict(
                type='SFMNeck',
                in_channels=(4, 8, 8, 8),
                global_channels=8,
                cls_channels=(4, 8, 8, 16),
                out_channels=16),
            head=dict(
                type='DLMHead',
                in_channels=8,
                vec_channels=16,
                out_channels=3,
                decoder=CODEC,
                loss=loss or dict(type='ChiWeightedLoss', num_gh_nodes=8),
                **head)))


def _loss(model, inputs, samples, probe=True):
    """``model.loss`` on an iteration where GradBalanceHook asks (or not)."""
    model.probe_grad_balance = probe
    return model.loss(inputs, samples)


def _norm_of_grad(model, inputs, samples, part):
    """Reference: the gradient of one weighted part w.r.t. the backbone's
    outputs, by an independent forward."""
    feats = model.backbone(inputs)
    feats = tuple(f.detach().requires_grad_() for f in feats)
    terms = model.head.loss_module.compute_terms(
        *_head_inputs(model, model.neck(feats), samples), model.head.flow)
    grads = torch.autograd.grad(terms[part], feats, allow_unused=True)
    return torch.stack([g.pow(2).sum() for g in grads
                        if g is not None]).sum().sqrt()


def _head_inputs(model, feats, samples):
    heatmaps, mu, sigma = model.head.forward(feats)
    gt = torch.stack([d.gt_fields.heatmaps for d in samples])
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in samples])
    weights = torch.cat(
        [d.gt_instance_labels.keypoint_weights for d in samples])
    return heatmaps, gt, mu, sigma, labels, weights


def test_diagnostics_are_logged_and_equal_an_independent_computation():
    model = _model().train()
    inputs, samples = make_batch(CODEC, 2, 3)
    losses = _loss(model, inputs, samples)
    for key in ('grad_h1', 'grad_h2', 'grad_ratio'):
        assert key in losses and 'loss' not in key, key
        assert torch.isfinite(losses[key]) and losses[key] > 0, key
        assert not losses[key].requires_grad, f'{key} must be detached'
    for part, key in (('total_h1', 'grad_h1'), ('total_h2', 'grad_h2')):
        want = _norm_of_grad(model, inputs, samples, part)
        assert torch.allclose(losses[key], want, rtol=1e-4), \
            f'{key}: {losses[key].item()} vs reference {want.item()}'
    assert torch.allclose(losses['grad_ratio'],
                          losses['grad_h2'] / losses['grad_h1'])


def test_diagnostics_do_not_change_the_training_gradients():
    inputs, samples = make_batch(CODEC, 2, 3)
    grads = []
    for probe in (True, False):
        model = _model().train()
        losses = _loss(model, inputs, samples, probe)
        assert ('grad_ratio' in losses) == probe
        losses['loss_kpt'].backward()
        grads.append(
            [p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-7), 'diagnostics changed a grad'


def test_hook_interval_and_off_by_default():
    """The hook asks on iterations 0, 3, ...; each request serves one call;
    without the hook nothing is logged."""
    from sadinet_mmpose.engine import GradBalanceHook
    inputs, samples = make_batch(CODEC, 2, 3)
    model = _model().train()
    assert 'grad_ratio' not in model.loss(inputs, samples), 'off by default'
    hook = GradBalanceHook(interval=3)
    logged = []
    for it in range(6):
        hook.before_train_iter(SimpleNamespace(model=model, iter=it), it)
        logged.append('grad_ratio' in model.loss(inputs, samples))
    assert logged == [True, False, False, True, False, False]
    assert 'grad_ratio' not in model.loss(inputs, samples), \
        'a request serves one call'


def test_balance_of_the_per_pixel_mean():
    """Summing L_H1 over the 16x16 pixels multiplies its gradient by 256."""
    inputs, samples = make_batch(CODEC, 2, 3)
    load_study_loss()  # the per-pixel mean is the study's form
    mean = _loss(
        _model(
            loss=dict(
                type='StudyChiWeightedLoss',
                num_gh_nodes=8,
                h1_reduction='mean')).train(), inputs, samples)
    summed = _loss(
        _model(loss=dict(type='ChiWeightedLoss', num_gh_nodes=8)).train(),
        inputs, samples)
    assert torch.allclose(summed['grad_h1'], 256 * mean['grad_h1'], rtol=1e-4)
    assert torch.allclose(summed['grad_h2'], mean['grad_h2'], rtol=1e-4)
