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

from ..config_check import check_model_wiring, check_module_cfg
from ..utils.cuda_graph import CUDAGraphCache

_CUDA_GRAPH_OPTIONS = ('max_graphs', 'warmup', 'train')


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
    ``head.predict`` (with the flip test if enabled, so each scale's heatmaps
    are already flip-averaged); the heatmaps
    (``pred_fields.<heatmap_key>``) are mapped onto the scale-1 grid
    (:func:`warp_heatmaps_to_reference`), averaged
    (:func:`aggregate_multiscale_heatmaps`) and decoded by ``head.decoder``.
    Keypoints and scores are replaced; all other instance fields (e.g.
    DLMHead's ``keypoint_sigmas``) come from the scale-1 pass. The scale-1
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
            use_udp=False)``. Defaults to None.
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
        self._checked_keypoints = False
        # A speed setting with no change to the maths: NHWC tensors let
        # cuDNN skip its NCHW<->NHWC conversions around every convolution
        # (27 ms of a 211 ms fp32 training step of SADI-Net on an H100).
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
        """As :meth:`TopdownPoseEstimator.loss`, checking K on the first batch."""
        self._check_num_keypoints(data_samples)
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

    def predict(self, inputs: Tensor, data_samples: List[PoseDataSample]):
        """Predict, with the multi-scale test when configured.

        Args:
            inputs (Tensor): Scale-1 crops, (B, C, H, W).
            data_samples (list[PoseDataSample]): The batch data samples.

        Returns:
            list[PoseDataSample]: Data samples with ``pred_instances`` (and
            ``pred_fields`` with ``output_heatmaps``).
        """
        ms_cfg = (self.test_cfg or {}).get('multiscale_test', None)
        if not ms_cfg:
            return super().predict(inputs, data_samples)
        scales = [float(s) for s in ms_cfg.get('scales', [1.0])]
        extra = [s for s in scales if s != 1.0]
        if not extra:
            return super().predict(inputs, data_samples)
        heatmap_key = ms_cfg.get('heatmap_key', 'heatmaps')
        use_udp = ms_cfg.get('use_udp', False)
        flip = self.test_cfg.get('flip_test', False)
        # Every scale needs the heatmaps; DLMHead's flow-rendered H2 is only
        # drawn when the user asked for heatmaps (it is not averaged).
        head_cfg = dict(copy.deepcopy(self.test_cfg), output_heatmaps=True,
                        output_h2=bool(self.test_cfg.get('output_heatmaps',
                                                         False)))

        def run(batch):
            feats = self.extract_feat(batch)
            if flip:
                feats = [feats, self.extract_feat(batch.flip(-1))]
            out = self.head.predict(feats, data_samples, test_cfg=head_cfg)
            if not isinstance(out, tuple):
                raise TypeError(
                    f'{type(self.head).__name__}.predict returned no '
                    'pred_fields with output_heatmaps=True: multi-scale test '
                    'needs a heatmap head')
            return out

        preds, fields = run(inputs)
        heatmaps = [torch.stack([f.get(heatmap_key) for f in fields])]
        for s in extra:
            crops = self._extra_crops(data_samples, s)
            batch = self.data_preprocessor(
                dict(inputs=crops,
                     data_samples=[PoseDataSample() for _ in crops]),
                False)['inputs'].to(inputs.device)
            _, fields_s = run(batch)
            heatmaps.append(
                torch.stack([f.get(heatmap_key) for f in fields_s]))
        merged = aggregate_multiscale_heatmaps(heatmaps, [1.0] + extra,
                                               use_udp)
        decoder = self.head.decoder
        if hasattr(decoder, 'batch_decode_tensor'):  # one call, on device
            kpts, scores = decoder.batch_decode_tensor(merged)
            decoded = [(kpts[i:i + 1], scores[i:i + 1])
                       for i in range(len(preds))]
        else:  # stock codecs decode one sample at a time
            decoded = [decoder.decode(hm.detach().cpu().numpy())
                       for hm in merged]
        for inst, (keypoints, keypoint_scores) in zip(preds, decoded):
            inst.keypoints = keypoints
            inst.keypoint_scores = keypoint_scores
        if self.test_cfg.get('output_heatmaps', False):
            for f, hm in zip(fields, merged):
                f.set_field(hm, heatmap_key)
        else:
            fields = None
        for ds in data_samples:  # do not carry the crops to the evaluator
            for key in ('ms_inputs', 'ms_scales'):
                if key in ds:
                    delattr(ds, key)
        return self.add_pred_to_datasample(preds, fields, data_samples)

    @staticmethod
    def _extra_crops(data_samples: List[PoseDataSample],
                     scale: float) -> List[Tensor]:
        crops = []
        for ds in data_samples:
            ms_scales = [float(s) for s in ds.metainfo.get('ms_scales', ())]
            if 'ms_inputs' not in ds.metainfo or not np.any(
                    np.isclose(ms_scales, scale)):
                raise KeyError(
                    f'multiscale_test scale {scale}: no such crop in the data '
                    f"sample (has ms_scales={ms_scales}). Use "
                    "MultiScaleTopdownAffine(scales=...) with the same scales "
                    "in the test pipeline and add 'ms_inputs', 'ms_scales' to "
                    "PackPoseInputs' meta_keys.")
            img = ds.metainfo['ms_inputs'][int(
                np.argmin(np.abs(np.asarray(ms_scales) - scale)))]
            crops.append(
                torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0,
                                                                    1))))
        return crops
