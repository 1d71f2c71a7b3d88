"""Top-down pose estimator with multi-scale (image pyramid) test-time
augmentation."""
import copy
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample
from torch import Tensor

from ...datasets.transforms.multiscale import MS_META_KEYS
from ..config_check import check_model_wiring, check_module_cfg
from ..utils.cuda_graph import CUDAGraphCache

_CUDA_GRAPH_OPTIONS = ('max_graphs', 'warmup', 'train')
_MS_OPTIONS = ('scales', 'heatmap_key', 'use_udp')
_DECODE_SOURCES = ('h1', 'mu', 'blend')


def warp_heatmaps_to_reference(heatmaps: Tensor,
                               scale: float,
                               use_udp: bool = False):
    """Map heatmaps of a crop at box scale ``s`` onto the scale-1 grid.

    Both crops share the centre; the scale-``s`` crop's box is ``s`` times
    the scale-1 box. A scale-1 grid point ``u`` shows the image point that
    lies at ``c + (u - c) / s`` on the scale-``s`` grid, with ``c`` the grid
    centre (``W / 2``, the centre of MMPose's affine crop; ``(W - 1) / 2``
    with UDP). Sampling is bilinear; grid points that fall outside the
    scale-``s`` heatmap (only for ``s < 1``) get zero weight.

    Note:
        - B: batch size, K: keypoints, H, W: heatmap size

    Args:
        heatmaps (Tensor): Heatmaps of the scale-``s`` crop, (B, K, H, W).
        scale (float): The box-size multiplier ``s`` of that crop.
        use_udp (bool): Use the UDP grid centre. Defaults to False.

    Returns:
        tuple[Tensor, Tensor]: the mapped heatmaps (B, K, H, W) and the
        coverage weight (1, 1, H, W) in [0, 1] of each grid point.
    """
    B, K, H, W = heatmaps.shape
    if scale == 1.0:
        return heatmaps, heatmaps.new_ones((1, 1, H, W))
    cx = (W - 1) / 2. if use_udp else W / 2.
    cy = (H - 1) / 2. if use_udp else H / 2.
    dtype, device = heatmaps.dtype, heatmaps.device
    us = (torch.arange(W, dtype=torch.float64) - cx) / scale + cx
    vs = (torch.arange(H, dtype=torch.float64) - cy) / scale + cy
    # pixel index -> [-1, 1] with align_corners=True
    gx = (2. * us / max(W - 1, 1) - 1.).to(dtype=dtype, device=device)
    gy = (2. * vs / max(H - 1, 1) - 1.).to(dtype=dtype, device=device)
    grid = torch.stack(torch.meshgrid(gy, gx, indexing='ij')[::-1], dim=-1)
    grid = grid.unsqueeze(0)
    mapped = F.grid_sample(
        heatmaps.reshape(1, B * K, H, W),
        grid,
        mode='bilinear',
        padding_mode='zeros',
        align_corners=True).reshape(B, K, H, W)
    cover = F.grid_sample(
        heatmaps.new_ones((1, 1, H, W)),
        grid,
        mode='bilinear',
        padding_mode='zeros',
        align_corners=True)
    return mapped, cover


def aggregate_multiscale_heatmaps(heatmaps: Sequence[Tensor],
                                  scales: Sequence[float],
                                  use_udp: bool = False) -> Tensor:
    """Average heatmaps of several crop scales on the scale-1 grid.

    Each grid point is the coverage-weighted mean over the scales whose crop
    sees it (the scale-1 crop sees every point, so no point is left empty).

    Args:
        heatmaps (Sequence[Tensor]): One (B, K, H, W) tensor per scale.
        scales (Sequence[float]): The box-size multiplier of each; must
            contain 1.0.
        use_udp (bool): See :func:`warp_heatmaps_to_reference`. Defaults to
            False.

    Returns:
        Tensor: The averaged heatmaps, (B, K, H, W).
    """
    assert len(heatmaps) == len(scales) and 1.0 in scales, \
        'aggregate_multiscale_heatmaps needs one heatmap per scale and 1.0'
    total, weight = 0., 0.
    for hm, s in zip(heatmaps, scales):
        mapped, cover = warp_heatmaps_to_reference(hm, float(s), use_udp)
        total = total + mapped
        weight = weight + cover
    return total / weight


@MODELS.register_module()
class MSTopdownPoseEstimator(TopdownPoseEstimator):
    """``TopdownPoseEstimator`` with an optional multi-scale test.

    Without ``test_cfg.multiscale_test`` it is exactly
    :class:`mmpose.models.TopdownPoseEstimator`. With
    ``test_cfg=dict(flip_test=True, multiscale_test=dict(scales=[...]))`` the
    test pipeline must use
    :class:`~sadinet_mmpose.datasets.transforms.MultiScaleTopdownAffine` with
    the same scales and pass ``ms_inputs``/``ms_scales`` through
    ``PackPoseInputs(meta_keys=...)``. Then, per scale ``s``, the extra crop
    is normalised by the data preprocessor and run through backbone, neck and
    ``head.predict`` (with the flip test if enabled, so each scale's result
    is already flip-averaged) and the scales are merged in the scale-1 crop's
    frame as ``test_cfg.decode_source`` says (see :meth:`predict`): the
    decoded map (H1, or DLMHead's ``(1 - chi) H1 + chi H2``) mapped onto the
    scale-1 grid (:func:`warp_heatmaps_to_reference`), averaged
    (:func:`aggregate_multiscale_heatmaps`) and decoded by ``head.decoder``;
    or, for ``'mu'``, ``mu_hat`` mapped and averaged. ``keypoint_sigmas`` are
    mapped and averaged too. The scale-1
    crop is always used; a scale list with only 1.0 gives the plain result.

    Args:
        channels_last (bool): Keep the weights and inputs in channels-last
            (NHWC) memory format, a GPU speed setting that changes no
            result. Defaults to False.
        cuda_graph (bool | dict): Replay backbone + neck at inference as
            captured CUDA graphs (:class:`~sadinet_mmpose.models.utils.
            CUDAGraphCache`), one per input shape: removes the launch
            overhead that dominates small batches on a GPU, same kernels,
            same results. Used only in eval mode with autograd off and CUDA
            inputs; CPU runs are unchanged. A dict sets ``max_graphs``
            (default 4), ``warmup`` (default 3) and ``train`` (default
            False): ``train=True`` also replays the training forward and
            backward of backbone + neck from two graphs per batch shape
            (CUDA inputs, autograd on; other shapes, e.g. a smaller last
            batch, run eagerly), which removes the CPU's launch work for
            thousands of kernels per step. Defaults to False.
        test_cfg (dict, optional): As ``TopdownPoseEstimator``, plus
            ``multiscale_test=dict(scales=[...], heatmap_key='heatmaps',
            use_udp=False)`` and the head's ``decode_source`` (``'h1'``,
            ``'mu'``, ``'blend'``), which the multi-scale test follows;
            checked when the model is built. Defaults to None.
        **kwargs: The arguments of ``TopdownPoseEstimator``.
    """

    def __init__(self, backbone: dict, neck: Optional[dict] = None,
                 head: Optional[dict] = None, channels_last: bool = False,
                 cuda_graph=False, **kwargs):
        # Unknown module types and options stop here, with their place in
        # the config, before any weights are built.
        for part, cfg in (('backbone', backbone), ('neck', neck),
                          ('head', head)):
            if cfg is not None:
                check_module_cfg(cfg, f'model.{part}')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        check_model_wiring(self.backbone, self.neck if self.with_neck else None,
                           self.head if self.with_head else None)
        if self.with_head:  # a bad test_cfg stops here, before any image
            self._multiscale_setup()
        self._checked_keypoints = False
        self._diag_calls = 0
        # A speed setting with no change to the maths: NHWC tensors let
        # cuDNN skip its NCHW<->NHWC conversions around every convolution
        # (measured in benchmarks/results/).
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self._graphs = None
        self.set_cuda_graph(cuda_graph)

    def set_cuda_graph(self, cuda_graph) -> None:
        """Switch graph replay of backbone + neck on (True / options dict)
        or off (False), dropping any captured graphs.

        Args:
            cuda_graph (bool | dict): See the class arguments.
        """
        if isinstance(cuda_graph, dict):
            unknown = sorted(set(cuda_graph) - set(_CUDA_GRAPH_OPTIONS))
            if unknown:
                raise ValueError(
                    f'model.cuda_graph: unknown option(s) {unknown}; '
                    f'expected a bool or a dict of {_CUDA_GRAPH_OPTIONS}')
            opts = dict(cuda_graph)
        elif isinstance(cuda_graph, bool):
            opts = {} if cuda_graph else None
        else:
            raise TypeError('model.cuda_graph: expected a bool or a dict of '
                            f'{_CUDA_GRAPH_OPTIONS}, got {cuda_graph!r}')
        self._graphs = (
            CUDAGraphCache(self._extract_feat_eager, module=self, **opts)
            if opts is not None else None)

    @property
    def cuda_graphs(self) -> Optional[CUDAGraphCache]:
        """The graph cache of backbone + neck, None when switched off."""
        return self._graphs

    def _extract_feat_eager(self, inputs: Tensor):
        return super().extract_feat(inputs)

    def extract_feat(self, inputs: Tensor):
        """As the parent; inputs go channels-last when the option is on, and
        backbone + neck replay from a CUDA graph when ``cuda_graph`` is."""
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if self._graphs is not None:
            return self._graphs(inputs)
        return self._extract_feat_eager(inputs)

    def _check_num_keypoints(self, data_samples: List[PoseDataSample]) -> None:
        """Stop at the first batch if head and data disagree on K."""
        if self._checked_keypoints or not data_samples or not self.with_head:
            return
        want = getattr(self.head, 'out_channels', None)
        sample = data_samples[0]
        got = None
        if 'gt_instances' in sample and 'keypoints' in sample.gt_instances:
            got = sample.gt_instances.keypoints.shape[-2]
        elif 'flip_indices' in sample.metainfo:
            got = len(sample.metainfo['flip_indices'])
        if isinstance(want, int) and got is not None and want != got:
            raise ValueError(
                f'keypoint count mismatch: {type(self.head).__name__}.'
                f'out_channels={want}, but the dataset gives {got} keypoints '
                f"per person ({sample.metainfo.get('dataset_name', '?')}, "
                f"{sample.metainfo.get('img_path', '?')}); set the head's "
                'out_channels to the dataset\'s number of keypoints')
        self._checked_keypoints = True

    def loss(self, inputs: Tensor, data_samples: List[PoseDataSample]) -> dict:
        """As :meth:`TopdownPoseEstimator.loss`, checking K on the first batch.

        Every ``train_cfg.grad_diag_interval`` calls (default 10; 0 turns it
        off) a head that has ``gradient_balance`` (:class:`DLMHead`) also
        logs the gradient norm each loss term sends into the backbone's
        outputs (``grad_h1``, ``grad_h2``, ``grad_ratio``). Skipped under
        training CUDA graphs, where the backbone's outputs are not exposed.
        """
        self._check_num_keypoints(data_samples)
        every = int(self.train_cfg.get('grad_diag_interval', 10) or 0)
        if (every > 0 and self._graphs is None and self.with_head
                and callable(getattr(self.head, 'gradient_balance', None))
                and torch.is_grad_enabled()):
            step = self._diag_calls
            self._diag_calls += 1
            if step % every == 0:
                if self.channels_last and inputs.dim() == 4:
                    inputs = inputs.contiguous(
                        memory_format=torch.channels_last)
                feats = self.backbone(inputs)
                probe = tuple(feats) if isinstance(feats,
                                                   (tuple, list)) else (feats, )
                if self.with_neck:
                    feats = self.neck(feats)
                return self.head.loss(
                    feats,
                    data_samples,
                    train_cfg=dict(self.train_cfg, grad_probe=probe))
        return super().loss(inputs, data_samples)

    def add_pred_to_datasample(self, batch_pred_instances, batch_pred_fields,
                               batch_data_samples):
        """As the parent, and also map ``keypoint_sigmas`` to image pixels.

        The head gives sigmas in input-crop pixels; like the keypoints they
        are scaled by ``input_scale / input_size`` so that they are in the
        pixels of the original image.
        """
        for inst, ds in zip(batch_pred_instances, batch_data_samples):
            if 'keypoint_sigmas' in inst and 'input_size' in ds.metainfo:
                size = np.asarray(ds.metainfo['input_size'], dtype=np.float32)
                scale = np.asarray(ds.metainfo['input_scale'],
                                   dtype=np.float32).reshape(-1)[:2]
                inst.keypoint_sigmas = np.asarray(
                    inst.keypoint_sigmas, dtype=np.float32) * (scale / size)
        return super().add_pred_to_datasample(batch_pred_instances,
                                              batch_pred_fields,
                                              batch_data_samples)

    def _multiscale_setup(self) -> Optional[dict]:
        """Read and check ``test_cfg.multiscale_test`` (None when off).

        Returns:
            dict | None: ``scales`` (1.0 first, then the others in config
            order), ``heatmap_key``, ``use_udp`` and ``decode_source``.
        """
        test_cfg = self.test_cfg or {}
        source = test_cfg.get('decode_source', 'h1')
        if source not in _DECODE_SOURCES:
            raise ValueError(
                f'model.test_cfg.decode_source must be one of '
                f'{_DECODE_SOURCES}, got {source!r}')
        ms_cfg = test_cfg.get('multiscale_test', None)
        if not ms_cfg:
            return None
        if not isinstance(ms_cfg, dict):
            raise TypeError(
                'model.test_cfg.multiscale_test must be a dict such as '
                f'dict(scales=[0.75, 1.0, 1.25]), got {ms_cfg!r}')
        unknown = sorted(set(ms_cfg) - set(_MS_OPTIONS))
        if unknown:
            raise ValueError(
                f'model.test_cfg.multiscale_test: unknown option(s) '
                f'{unknown}; expected {_MS_OPTIONS}')
        raw = ms_cfg.get('scales', [1.0])
        try:
            scales = [float(s) for s in raw]
        except (TypeError, ValueError):
            raise ValueError(
                'model.test_cfg.multiscale_test.scales must be a list of '
                f'positive numbers, got {raw!r}') from None
        if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
            raise ValueError(
                'model.test_cfg.multiscale_test.scales must be a non-empty '
                f'list of positive numbers, got {list(raw)!r}')
        if len(set(scales)) != len(scales):
            raise ValueError(
                'model.test_cfg.multiscale_test.scales lists a scale twice: '
                f'{list(raw)!r}')
        if source != 'h1' and not _is_dlm_head(self.head):
            raise ValueError(
                f"model.test_cfg.decode_source={source!r} with "
                f'multiscale_test needs a head that predicts (mu, sigma) '
                f'and H2 (DLMHead); {type(self.head).__name__} does not: use '
                "decode_source='h1'")
        return dict(
            scales=[1.0] + [s for s in scales if s != 1.0],
            heatmap_key=ms_cfg.get('heatmap_key', 'heatmaps'),
            use_udp=bool(ms_cfg.get('use_udp', False)),
            decode_source=source)

    def predict(self, inputs: Tensor, data_samples: List[PoseDataSample]):
        """Predict, with the multi-scale test when configured.

        Without ``test_cfg.multiscale_test``, or with ``scales=[1.0]``, this
        is :meth:`TopdownPoseEstimator.predict`. Otherwise each scale's crop
        runs backbone, neck and ``head.predict`` (flip-averaged under
        ``flip_test``) and the results are merged in the frame of the scale-1
        crop (a point ``u_s`` of the scale-``s`` crop is at ``c + s (u_s -
        c)`` there, ``c`` the crop centre) according to
        ``test_cfg.decode_source``:

        - ``'h1'`` (default; the only one for heads other than DLMHead): the
          heatmaps ``pred_fields.<heatmap_key>`` are mapped onto the scale-1
          grid, averaged (:func:`aggregate_multiscale_heatmaps`) and decoded
          by ``head.decoder``.
        - ``'blend'``: the same with DLMHead's blended map ``(1 - chi) H1 +
          chi H2`` of each scale (``chi`` = mean ``sigma_hat`` of that
          scale's crop, as the head blends).
        - ``'mu'``: ``mu_hat`` of every scale, mapped to the scale-1 crop, is
          averaged; the scores are the codec's ``1 - mean(sigma)`` of the
          averaged sigma (``decoder.decode_labels``).

        ``keypoint_sigmas`` (when the head predicts them) are mapped (times
        ``s``) and averaged for every decode source. The crops of the other
        scales are checked before any forward pass.

        Note:
            - B: batch size, K: keypoints, H, W: heatmap size

        Args:
            inputs (Tensor): Scale-1 crops, (B, C, H_in, W_in).
            data_samples (list[PoseDataSample]): The batch data samples;
                with the multi-scale test each carries ``ms_inputs`` and
                ``ms_scales`` (from ``MultiScaleTopdownAffine``).

        Returns:
            list[PoseDataSample]: Data samples with ``pred_instances``
            (``keypoints`` (1, K, 2) and ``keypoint_sigmas`` (1, K, 2) in
            image pixels, ``keypoint_scores`` (1, K)) and, with
            ``output_heatmaps``, ``pred_fields`` holding the merged
            ``<heatmap_key>`` map (K, H, W) (H1 for DLMHead; its
            ``heatmaps_h2`` is the scale-1 pass's).
        """
        ms = self._multiscale_setup()
        if ms is None or len(ms['scales']) == 1:
            # e.g. single scale with the multi-scale test pipeline: the extra
            # crops are unused, and not carried to the evaluator
            _drop_crops(data_samples)
            return super().predict(inputs, data_samples)
        scales = ms['scales']
        # every crop is looked up before the first forward pass
        extra_crops = [self._extra_crops(data_samples, s, scales)
                       for s in scales[1:]]
        source, heatmap_key = ms['decode_source'], ms['heatmap_key']
        dlm = _is_dlm_head(self.head)
        want_maps = bool(self.test_cfg.get('output_heatmaps', False))
        head_cfg = dict(copy.deepcopy(self.test_cfg), output_heatmaps=True,
                        output_h2=False)
        head_cfg.pop('multiscale_test', None)
        if dlm:
            # per scale: keypoints = mu_hat in crop pixels (no heatmap
            # decode), sigmas in crop pixels, H1 and, when needed, H2
            need_h1 = source != 'mu' or want_maps
            head_cfg.update(
                decode_source='mu', output_heatmaps=need_h1,
                output_h2=source == 'blend' or (
                    want_maps and self.test_cfg.get('output_h2', True)))
        flip = self.test_cfg.get('flip_test', False)

        def run(batch):
            feats = self.extract_feat(batch)
            if flip:
                feats = [feats, self.extract_feat(batch.flip(-1))]
            out = self.head.predict(feats, data_samples, test_cfg=head_cfg)
            if head_cfg['output_heatmaps'] and not isinstance(out, tuple):
                raise TypeError(
                    f'{type(self.head).__name__}.predict returned no '
                    'pred_fields with output_heatmaps=True: multi-scale test '
                    'needs a heatmap head')
            return out if isinstance(out, tuple) else (out, None)

        per_scale = [run(inputs)]
        for crops in extra_crops:
            batch = self.data_preprocessor(
                dict(inputs=crops,
                     data_samples=[PoseDataSample() for _ in crops]),
                False)['inputs'].to(inputs.device)
            per_scale.append(run(batch))
        preds, fields = per_scale[0]

        input_size = np.asarray(self.head.decoder.input_size, np.float32)
        centre = (input_size - 1.) / 2. if ms['use_udp'] else input_size / 2.
        sigmas = None
        if all('keypoint_sigmas' in p for out, _ in per_scale for p in out):
            # (S, B, 1, K, 2) in the scale-1 crop's pixels
            sigmas = np.stack([
                np.stack([np.asarray(p.keypoint_sigmas, np.float32)
                          for p in out]) * np.float32(s)
                for (out, _), s in zip(per_scale, scales)]).mean(0)

        if source == 'mu':
            kpts = np.stack([
                np.stack([np.asarray(p.keypoints, np.float32)
                          for p in out]) - centre
                for out, _ in per_scale])  # (S, B, 1, K, 2)
            kpts = (kpts * np.asarray(scales, np.float32).reshape(
                -1, 1, 1, 1, 1)).mean(0) + centre
            decoded = [
                self.head.decoder.decode_labels(k / input_size,
                                                sg / input_size)
                for k, sg in zip(kpts, sigmas)
            ]
        else:
            maps = [
                self._map_to_decode(out, flds, source, heatmap_key,
                                    input_size)
                for out, flds in per_scale
            ]
            merged = aggregate_multiscale_heatmaps(maps, scales,
                                                   ms['use_udp'])
            decoded = self._decode_maps(merged)
        for i, (inst, (keypoints, keypoint_scores)) in enumerate(
                zip(preds, decoded)):
            inst.keypoints = keypoints
            inst.keypoint_scores = keypoint_scores
            if sigmas is not None:
                inst.keypoint_sigmas = sigmas[i]
        if want_maps:
            if source == 'h1':
                merged_h1 = merged
            else:
                merged_h1 = aggregate_multiscale_heatmaps(
                    [torch.stack([f.get(heatmap_key) for f in flds])
                     for _, flds in per_scale], scales, ms['use_udp'])
            for f, hm in zip(fields, merged_h1):
                f.set_field(hm, heatmap_key)
        else:
            fields = None
        _drop_crops(data_samples)  # not carried to the evaluator
        return self.add_pred_to_datasample(preds, fields, data_samples)

    @staticmethod
    def _map_to_decode(preds, fields, source: str, heatmap_key: str,
                       input_size: np.ndarray) -> Tensor:
        """The (B, K, H, W) map of one scale that the head would decode:
        ``<heatmap_key>`` for ``'h1'``, ``(1 - chi) H1 + chi H2`` for
        ``'blend'`` (``chi`` from that scale's sigmas, as DLMHead)."""
        h1 = torch.stack([f.get(heatmap_key) for f in fields])
        if source != 'blend':
            return h1
        h2 = torch.stack([f.heatmaps_h2 for f in fields])
        sig = np.stack([np.asarray(p.keypoint_sigmas, np.float32)[0]
                        for p in preds]) / input_size  # (B, K, 2) fractions
        chi = torch.from_numpy(np.clip(sig.mean(-1), 0., 1.)).to(
            h1.device, h1.dtype)[..., None, None]
        return (1 - chi) * h1 + chi * h2

    def _decode_maps(self, merged: Tensor) -> list:
        """Decode (B, K, H, W) maps with the head's codec: one call for
        codecs with ``batch_decode_tensor``, else one per sample."""
        decoder = self.head.decoder
        if hasattr(decoder, 'batch_decode_tensor'):  # one call, on device
            kpts, scores = decoder.batch_decode_tensor(merged)
            return [(kpts[i:i + 1], scores[i:i + 1])
                    for i in range(merged.shape[0])]
        return [decoder.decode(hm.detach().cpu().numpy()) for hm in merged]

    @staticmethod
    def _extra_crops(data_samples: List[PoseDataSample], scale: float,
                     scales: Sequence[float]) -> List[Tensor]:
        """The crops at ``scale`` of every sample, (3, H_in, W_in) each."""
        crops = []
        for ds in data_samples:
            ms_scales = [float(s) for s in ds.metainfo.get('ms_scales', ())]
            if 'ms_inputs' not in ds.metainfo or not np.any(
                    np.isclose(ms_scales, scale)):
                raise ValueError(
                    f'model.test_cfg.multiscale_test.scales={list(scales)} '
                    f'but the data sample has no crop at scale {scale} '
                    f'(ms_scales={ms_scales}): the test pipeline needs '
                    'MultiScaleTopdownAffine(scales=...) with the same '
                    "scales and 'ms_inputs', 'ms_scales' in PackPoseInputs' "
                    'meta_keys')
            img = ds.metainfo['ms_inputs'][int(
                np.argmin(np.abs(np.asarray(ms_scales) - scale)))]
            crops.append(
                torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0,
                                                                    1))))
        return crops


def _drop_crops(data_samples: List[PoseDataSample]) -> None:
    """Remove the multi-scale crops from the data samples' metainfo."""
    for ds in data_samples:
        for key in MS_META_KEYS:
            if key in ds:
                delattr(ds, key)


def _is_dlm_head(head) -> bool:
    """Whether ``head`` predicts (mu, sigma) and H2 as DLMHead does."""
    return callable(getattr(head, 'render_h2', None)) and callable(
        getattr(getattr(head, 'decoder', None), 'decode_labels', None))
