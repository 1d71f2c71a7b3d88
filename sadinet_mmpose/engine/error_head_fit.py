"""Fitting a DLM head's error head on a split, with the pose model frozen.

The error head (:class:`~sadinet_mmpose.models.KeypointErrorHead`) learns
the errors of the keypoints that inference returns: each sample is predicted
as the config tests it (``model.test_step``: flip, scales, decode source),
and the error head's features come from the unflipped crop's forward pass,
the pass it reads at test time.
"""
import copy
from typing import Optional

import numpy as np
import torch


def split_with_test_pipeline(cfg,
                             split: str = 'train',
                             max_images: Optional[int] = None) -> dict:
    """The dataloader config of ``split`` with the test pipeline (no
    augmentation), one process, no shuffling.

    Args:
        cfg (mmengine.Config): The model's config.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        max_images (int, optional): ``num_images`` for datasets that take
            it (the synthetic ones). Defaults to None.

    Returns:
        dict: A config for ``Runner.build_dataloader``.
    """
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise ValueError(f'the config has no {key}')
    loader = copy.deepcopy(dict(cfg[key]))
    ds = dict(loader['dataset'])
    ds['pipeline'] = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    if 'datasets' not in ds:
        ds['test_mode'] = True
    if max_images:
        ds['num_images'] = int(max_images)
    loader.update(
        dataset=ds,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False))
    loader.pop('persistent_workers', None)
    return loader


@torch.no_grad()
def collect_error_data(model, dataloader) -> dict:
    """Features and returned-keypoint errors of every sample.

    Args:
        model (nn.Module): A top-down estimator whose head is a ``DLMHead``
            with an ``error_head``.
        dataloader (Iterable): Batches as the runner gives them.

    Returns:
        dict: ``features`` (N, K, D), ``errors`` (N, K, 2) in fractions of
        the crop side, ``visible`` (N, K) bool (tensors).
    """
    head = model.head
    feats_all, errs, vis_all = [], [], []
    for data in dataloader:
        batch = model.data_preprocessor(data, False)
        feats = model.extract_feat(batch['inputs'])
        heatmaps, mu, sigma = head.forward(feats)
        feats_all.append(
            head.error_head.features(
                tuple(feats)[-2], heatmaps[-1], mu, sigma).cpu())
        for ds in model.test_step(data):
            pred = np.asarray(ds.pred_instances.keypoints)[0, :, :2]
            gt = np.asarray(ds.gt_instances.keypoints)[0, :, :2]
            side = np.asarray(ds.metainfo['input_scale'],
                              np.float64).reshape(-1)[:2]
            vis = np.asarray(ds.gt_instances.keypoints_visible)
            vis = vis[..., 0] if vis.ndim == 3 else vis
            errs.append((pred - gt) / side)
            vis_all.append(vis.reshape(-1) > 0)
    return dict(
        features=torch.cat(feats_all),
        errors=torch.as_tensor(np.stack(errs), dtype=torch.float32),
        visible=torch.as_tensor(np.stack(vis_all)))


def fit_error_head(model,
                   dataloader,
                   epochs: int = 40,
                   seed: int = 0,
                   data: Optional[dict] = None) -> dict:
    """Fit ``model.head.error_head`` on ``dataloader``'s samples.

    Args:
        model (nn.Module): As :func:`collect_error_data`, in eval mode.
        dataloader (Iterable): The fitting split (see
            :func:`split_with_test_pipeline`).
        epochs (int): Passes over the joints. Defaults to 40.
        seed (int): Seed of the fit. Defaults to 0.
        data (dict, optional): A :func:`collect_error_data` result to fit
            on instead of running the model. Defaults to None.

    Returns:
        dict: ``num_persons``, ``num_joints`` (visible) and ``nll`` (the
        last epoch's mean Laplace negative log-likelihood).
    """
    head = getattr(model, 'head', None)
    if getattr(head, 'error_head', None) is None:
        raise ValueError(
            f'model.head ({type(head).__name__}) has no error head: add '
            "error_head=dict(type='KeypointErrorHead') to the DLMHead config")
    model.eval()
    head.error_head.fitted.zero_()  # the features do not depend on it
    data = data or collect_error_data(model, dataloader)
    nll = head.error_head.fit(
        data['features'],
        data['errors'],
        data['visible'],
        head.decoder.heatmap_size,
        epochs=epochs,
        seed=seed)
    return dict(
        num_persons=int(len(data['errors'])),
        num_joints=int(data['visible'].sum()),
        nll=float(nll))
