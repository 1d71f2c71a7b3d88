"""Top-down pose estimator with multi-scale (image pyramid) test-time
augmentation."""
from typing import List, Optional

import numpy as np
import torch
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample
from torch import Tensor

from ...codecs import merging
from ...codecs.decoding import crop_centre_offset, heatmap_grid
from ...datasets.transforms.multiscale import drop_scale_crops, scale_crops
from ..config_check import check_model_wiring, check_module_cfg
from .multiscale_cfg import is_dlm_head, parse_multiscale_cfg


def box_off_image(data_samples: List[PoseDataSample]) -> Optional[str]:
    """The first person box that does not overlap its image, described;
    None when every box does (or none is known)."""
    for ds in data_samples:
        shape = ds.metainfo.get('ori_shape')
        gt = ds.get('gt_instances', None)
        if shape is None or gt is None or 'bboxes' not in gt:
            continue
        h, w = shape[:2]
        for x1, y1, x2, y2 in np.asarray(
                gt.bboxes, dtype=float).reshape(-1, 4):
            if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
                return (f'person box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] lies '
                        f'outside its image ({w}x{h}, '
                        f'{ds.metainfo.get("img_path", "an image")}): its '
                        'keypoints and their sigmas describe a blank crop')
    return None


@MODELS.register_module()
class MSTopdownPoseEstimator(TopdownPoseEstimator):
    """``TopdownPoseEstimator`` with an optional multi-scale test.

    Without ``test_cfg.multiscale_test`` it is exactly
    :class:`mmpose.models.TopdownPoseEstimator`. With
    ``test_cfg=dict(flip_test=True, multiscale_test=dict(scales=[...]))`` the
    test pipeline must use
    :class:`~sadinet_mmpose.datasets.transforms.MultiScaleTopdownAffine` with
    the same scales and pass ``ms_inputs``/``ms_scales`` through
    ``PackPoseInputs(meta_keys=...)``. Then every scale's crop runs through
    backbone, neck and head (flip-averaged under the flip test) and the
    scales are merged in the scale-1 crop's frame as
    ``test_cfg.decode_source`` says (see :meth:`predict`). The scale-1 crop
    is always used; a scale list with only 1.0 gives the plain result.

    Args:
        channels_last (bool): Keep the weights and inputs in channels-last
            (NHWC) memory format: a speed setting for cuDNN and for oneDNN
            on the CPU. The maths is the same; only the order of floating
            point sums differs. Defaults to False.
        test_cfg (dict, optional): As ``TopdownPoseEstimator``, plus
            ``multiscale_test=dict(scales=[...], heatmap_key='heatmaps',
            use_udp=False)`` and the head's ``decode_source`` (``'h1'``,
            ``'mu'``, ``'blend'``), which the multi-scale test follows;
            checked when the model is built. Defaults to None.
        **kwargs: The arguments of ``TopdownPoseEstimator``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 channels_last: bool = False,
                 **kwargs):
        # Unknown module types and options stop here, with their place in
        # the config, before any weights are built.
        for part, cfg in (('backbone', backbone), ('neck', neck), ('head',
                                                                   head)):
            if cfg is not None:
                check_module_cfg(cfg, f'model.{part}')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        check_model_wiring(self.backbone,
                           self.neck if self.with_neck else None,
                           self.head if self.with_head else None)
        if self.with_head:  # a bad test_cfg stops here, before any image
            parse_multiscale_cfg(self.test_cfg, self.head)
        self._checked_keypoints = False
        self.probe_grad_balance = False  # set by GradBalanceHook
        # A speed setting with no change to the maths: NHWC tensors spare
        # cuDNN and oneDNN their layout conversions around each convolution
        # (measured in benchmarks/results/).
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def extract_feat(self, inputs: Tensor):
        """As the parent; inputs go channels-last when the option is on."""
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return super().extract_feat(inputs)

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

        On the iterations where :class:`GradBalanceHook` sets
        ``probe_grad_balance``, a :class:`DLMHead` also logs the gradient
        norm each loss term sends into the backbone's outputs (``grad_h1``,
        ``grad_h2``, ``grad_ratio``).
        """
        self._check_num_keypoints(data_samples)
        probe_now, self.probe_grad_balance = self.probe_grad_balance, False
        if (probe_now and self.with_head and is_dlm_head(self.head)
                and torch.is_grad_enabled()):
            if self.channels_last and inputs.dim() == 4:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
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

    def predict(self, inputs: Tensor, data_samples: List[PoseDataSample]):
        """Predict, with the multi-scale test when configured.

        Without ``test_cfg.multiscale_test``, or with ``scales=[1.0]``, this
        is :meth:`TopdownPoseEstimator.predict`. Otherwise each scale's crop
        runs backbone and neck, the head gives its flip-merged outputs, and
        :mod:`sadinet_mmpose.codecs.merging` merges the scales in the frame
        of the scale-1 crop according to ``test_cfg.decode_source``:

        - ``'h1'`` (default; the only one for heads other than DLMHead): the
          heatmaps mapped onto the scale-1 grid and averaged
          (:func:`~sadinet_mmpose.codecs.merging.merge_scale_heatmaps`),
          then decoded by the head's codec.
        - ``'blend'``: the same with DLMHead's blended map ``(1 - chi) H1 +
          chi H2`` of each scale.
        - ``'mu'``: ``mu_hat`` of every scale, mapped to the scale-1 crop,
          averaged and decoded (:meth:`DLMHead.decode`).

        ``keypoint_sigmas`` (DLMHead) are mapped (times ``s``) and averaged
        for every decode source. The crops of the other scales are looked up
        before any forward pass.

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
        if not getattr(self, '_warned_box', False):
            message = box_off_image(data_samples)
            if message is not None:
                import warnings
                warnings.warn(message, UserWarning, stacklevel=2)
                self._warned_box = True  # once per model
        ms = parse_multiscale_cfg(self.test_cfg, self.head)
        if ms is None or len(ms['scales']) == 1:
            # e.g. single scale with the multi-scale test pipeline: the extra
            # crops are unused, and not carried to the evaluator
            drop_scale_crops(data_samples)
            return super().predict(inputs, data_samples)
        scales = ms['scales']
        extra = [scale_crops(data_samples, s, scales) for s in scales[1:]]
        batches = [inputs] + [
            self.data_preprocessor(
                dict(
                    inputs=crops,
                    data_samples=[PoseDataSample() for _ in crops]),
                False)['inputs'].to(inputs.device) for crops in extra
        ]
        if is_dlm_head(self.head):
            preds, fields = self._predict_dlm(batches, data_samples, ms)
        else:
            preds, fields = self._predict_heatmaps(batches, data_samples, ms)
        drop_scale_crops(data_samples)  # not carried to the evaluator
        return self.add_pred_to_datasample(preds, fields, data_samples)

    def _centre_offset(self, ms: dict):
        """The crop centre on the head's heatmap grid (see
        :func:`~sadinet_mmpose.codecs.decoding.crop_centre_offset`)."""
        decoder = self.head.decoder
        return crop_centre_offset(decoder.input_size, decoder.heatmap_size,
                                  heatmap_grid(decoder), ms['use_udp'])

    def _features(self, batch: Tensor):
        """Features of a batch, with those of its mirror under flip test."""
        feats = self.extract_feat(batch)
        if self.test_cfg.get('flip_test', False):
            feats = [feats, self.extract_feat(batch.flip(-1))]
        return feats

    def _predict_dlm(self, batches: List[Tensor],
                     data_samples: List[PoseDataSample], ms: dict):
        """Multi-scale prediction of a DLMHead (see :meth:`predict`)."""
        head, scales, source = self.head, ms['scales'], ms['decode_source']
        dists = [
            head.predict_distribution(
                self._features(b), data_samples, self.test_cfg)
            for b in batches
        ]
        sigma = merging.merge_scale_sigmas([d['sigma'] for d in dists], scales)
        reported = merging.merge_scale_sigmas(
            [head.reported_sigma(d, source) for d in dists], scales)
        offset = self._centre_offset(ms)
        if source == 'mu':
            # the crop centre's label: (c + 0.5) / w, c = w / 2 or (w - 1) / 2
            size = np.asarray(head.decoder.input_size, np.float32)
            c_in = (size - 1.) / 2. if ms['use_udp'] else size / 2.
            centre = torch.as_tensor(
                (c_in + 0.5) / size, device=dists[0]['mu'].device)
            merged = dict(
                mu=merging.merge_scale_points([d['mu'] for d in dists], scales,
                                              centre),
                sigma=sigma)
        else:
            merged = dict(
                map=merging.merge_scale_heatmaps(
                    [head.decode_map(d, source)
                     for d in dists], scales, offset))
        keypoints, scores = head.decode(merged, source)
        preds = head.pack_predictions(keypoints, scores, reported,
                                      data_samples, self.test_cfg)
        fields = None
        if self.test_cfg.get('output_heatmaps', False):
            h1 = merged['map'] if source == 'h1' else \
                merging.merge_scale_heatmaps([d['h1'] for d in dists], scales,
                                             offset)
            h2 = None
            if self.test_cfg.get('output_h2', True):
                h2 = head.render_h2(dists[0]['mu'], dists[0]['sigma'],
                                    head.decoder.heatmap_size)
            fields = head.pack_fields(h1, h2)
        return preds, fields

    def _predict_heatmaps(self, batches: List[Tensor],
                          data_samples: List[PoseDataSample], ms: dict):
        """Multi-scale prediction of a heatmap head (see :meth:`predict`):
        its ``predict`` runs per scale with ``output_heatmaps`` on."""
        key = ms['heatmap_key']
        head_cfg = dict(self.test_cfg, output_heatmaps=True)
        head_cfg.pop('multiscale_test', None)
        per_scale = []
        for b in batches:
            out = self.head.predict(
                self._features(b), data_samples, test_cfg=head_cfg)
            if not isinstance(out, tuple):
                raise TypeError(
                    f'{type(self.head).__name__}.predict returned no '
                    'pred_fields with output_heatmaps=True: multi-scale test '
                    'needs a heatmap head')
            per_scale.append(out)
        merged = merging.merge_scale_heatmaps(
            [torch.stack([f.get(key) for f in flds]) for _, flds in per_scale],
            ms['scales'], self._centre_offset(ms))
        preds, fields = per_scale[0]
        decoder = self.head.decoder
        for i, inst in enumerate(preds):
            if hasattr(decoder, 'batch_decode_tensor'):
                k, sc = decoder.batch_decode_tensor(merged[i:i + 1])
            else:
                k, sc = decoder.decode(merged[i].detach().cpu().numpy())
            inst.keypoints, inst.keypoint_scores = k, sc
        if not self.test_cfg.get('output_heatmaps', False):
            return preds, None
        for f, hm in zip(fields, merged):
            f.set_field(hm, key)
        return preds, fields
