"""The DLM head of SADI-Net (paper III-D): H1, (mu, sigma) and the flow."""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)
from torch import Tensor, nn

from ...codecs import merging
from ...evaluation.functional import heatmap_pck_accuracy
from ..utils.grad_balance import gradient_balance
from ..utils.heatmap_branch import build_heatmap_branch
from .sigma_calibrator import SigmaCalibrator

OptIntSeq = Optional[Sequence[int]]


@MODELS.register_module()
class DLMHead(BaseHead):
    """Distribution Learning Module head of SADI-Net.

    - H1: a heatmap branch (optional deconv / conv layers as
      :class:`mmpose.models.heads.HeatmapHead`, then a final conv) on each of
      the last ``num_stages`` spatial features; every stage has its own
      layers and is supervised (intermediate supervision).
    - ``mu_hat = 0.5 + linear(f)`` and ``sigma_hat = sigmoid(linear(f)) +
      sigma_floor`` from the pooled vector ``f`` (RLE-style, in fractions of
      the heatmap side, computed in float32).
    - a 2-D flow (default :class:`RealNVP2D`) that, with the loss's density
      ``P``, gives the learnable heatmap H2 (``P`` rendered on the heatmap
      grid, scaled to 1 at ``mu_hat``; rendered only for prediction).
    - ``error_head`` (optional, :class:`KeypointErrorHead`): once fitted,
      the error scales of the keypoints decoded from H1, reported as
      ``keypoint_sigmas`` in place of ``sigma_hat`` (which describes
      ``mu_hat``, and stays the sigma of ``decode_source='mu'``).
    - ``calibration``: the fitted sigma calibration
      (:class:`SigmaCalibrator`), applied to every prediction.

    Input contract: ``feats = (*spatial_feats, f)`` with ``f`` in shape
    (B, vec_channels) last and at least ``num_stages`` spatial features
    (B, in_channels, h, w) before it (e.g. the output of ``SFMNeck``).

    Note:
        B: batch size, K: keypoints, [W, H]: heatmap size, S: ``num_stages``.

    Args:
        out_channels (int): Number of keypoints K.
        in_channels (int): Channels of the spatial features. Defaults to 256.
        vec_channels (int): Channels of ``f``. Defaults to 2048.
        num_stages (int): Number of spatial features (the last ones before
            ``f``) that get an H1 branch. Defaults to 1.
        deconv_out_channels, deconv_kernel_sizes, conv_out_channels,
            conv_kernel_sizes, final_layer: The layers of each H1 branch,
            as :func:`build_heatmap_branch` takes them (default: the final
            1x1 conv alone).
        sigma_floor (float): Added to ``sigmoid(.)`` for ``sigma_hat``.
        flow (dict): The flow (``MODELS``), a :class:`RealNVP2D`.
        loss (dict): The loss (``MODELS``), a :class:`ChiWeightedLoss`.
        decoder (dict, optional): The codec (``KEYPOINT_CODECS``), a
            :class:`FlowHeatmapCodec`; needed by :meth:`predict`.
        error_head (dict, optional): A :class:`KeypointErrorHead` config
            (``num_keypoints`` and ``in_channels`` are the head's). Defaults
            to None.
        init_cfg (dict | list, optional): Initialisation config. Defaults to
            Normal(std=0.001) convs, BN weight 1, Normal(std=0.01, bias=0)
            for the mu / sigma layers; the flow keeps its own init.
    """

    def __init__(self,
                 out_channels: int,
                 in_channels: int = 256,
                 vec_channels: int = 2048,
                 num_stages: int = 1,
                 deconv_out_channels: OptIntSeq = None,
                 deconv_kernel_sizes: OptIntSeq = None,
                 conv_out_channels: OptIntSeq = None,
                 conv_kernel_sizes: OptIntSeq = None,
                 final_layer: dict = dict(kernel_size=1),
                 sigma_floor: float = 1e-4,
                 flow: ConfigType = dict(type='RealNVP2D'),
                 loss: ConfigType = dict(type='ChiWeightedLoss'),
                 decoder: OptConfigType = None,
                 error_head: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(
                    type='Normal',
                    layer=['Conv2d', 'ConvTranspose2d'],
                    std=0.001),
                dict(type='Constant', layer='BatchNorm2d', val=1),
                dict(
                    type='Normal',
                    std=0.01,
                    bias=0.,
                    override=[dict(name='sigma_fc'),
                              dict(name='mu_fc')]),
            ]
        super().__init__(init_cfg)
        for name, value in (('num_stages', num_stages), ('out_channels',
                                                         out_channels)):
            if value < 1:
                raise ValueError(f'DLMHead: {name} must be >= 1, got {value}')
        self.in_channels = in_channels
        self.vec_channels = vec_channels
        self.out_channels = out_channels
        self.num_stages = num_stages
        self.sigma_floor = sigma_floor
        self.h1_branches = nn.ModuleList([
            build_heatmap_branch(in_channels, out_channels,
                                 deconv_out_channels, deconv_kernel_sizes,
                                 conv_out_channels, conv_kernel_sizes,
                                 final_layer, 'DLMHead')
            for _ in range(num_stages)
        ])
        self.mu_fc = nn.Linear(vec_channels, out_channels * 2)
        self.sigma_fc = nn.Linear(vec_channels, out_channels * 2)
        self.flow = MODELS.build(flow)
        self.loss_module = MODELS.build(loss)
        for what, obj, names, use in (('flow', self.flow,
                                       ('log_prob', 'moments'), 'RealNVP2D'),
                                      ('loss', self.loss_module,
                                       ('compute_terms', 'log_prob',
                                        'flow_moments'), 'ChiWeightedLoss')):
            for name in names:
                if not callable(getattr(obj, name, None)):
                    raise TypeError(f'DLMHead: the {what} {type(obj)} has no '
                                    f'method {name}() (use {use})')

        self.calibration = SigmaCalibrator(out_channels)
        self.error_head = None if error_head is None else MODELS.build(
            dict(
                error_head,
                num_keypoints=out_channels,
                in_channels=in_channels))
        self.decoder = None
        if decoder is not None:
            self.decoder = KEYPOINT_CODECS.build(decoder)
            for name in ('heatmap_size', 'input_size', 'decode_labels',
                         'sigmas_to_input'):
                if not hasattr(self.decoder, name):
                    raise TypeError(
                        f'DLMHead: the decoder {type(self.decoder).__name__} '
                        f'has no {name} (use FlowHeatmapCodec)')

    def forward(self, feats: Sequence[Tensor]
                ) -> Tuple[List[Tensor], Tensor, Tensor]:
        """H1 of every stage, ``mu_hat`` and ``sigma_hat`` (no data samples:
        MMPose's FLOPs counter calls it).

        Args:
            feats (Sequence[Tensor]): ``(*spatial_feats, f)``; the last
                ``num_stages`` spatial features (B, in_channels, h, w) feed
                H1, ``f`` (B, vec_channels) feeds ``mu_hat`` / ``sigma_hat``.

        Returns:
            tuple: S heatmaps H1 (B, K, H, W), the last one the prediction;
            ``mu_hat`` and ``sigma_hat`` (B, K, 2), float32.
        """
        feats = tuple(feats)
        if len(feats) < self.num_stages + 1:
            raise ValueError(
                f'DLMHead needs feats = (*spatial_feats, f) with at least '
                f'num_stages={self.num_stages} spatial features before f, got '
                f'{len(feats)} tensors')
        f = feats[-1]
        if f.dim() != 2 or f.shape[1] != self.vec_channels:
            raise ValueError(
                f'DLMHead: feats[-1] must be the pooled vector f of shape '
                f'(B, vec_channels={self.vec_channels}), got '
                f'{tuple(f.shape)}')
        spatial = feats[-1 - self.num_stages:-1]
        heatmaps = []
        for i, (branch, x) in enumerate(zip(self.h1_branches, spatial)):
            if x.dim() != 4 or x.shape[1] != self.in_channels:
                raise ValueError(
                    f'DLMHead: spatial feature {i} of the H1 stages must be '
                    f'(B, in_channels={self.in_channels}, h, w), got '
                    f'{tuple(x.shape)}')
            heatmaps.append(branch(x))
        if self.decoder is not None:
            H, W = heatmaps[-1].shape[-2:]
            if (W, H) != tuple(self.decoder.heatmap_size):
                raise ValueError(
                    f'DLMHead: H1 has size (W, H)={(W, H)} but the decoder\'s '
                    f'heatmap_size is {tuple(self.decoder.heatmap_size)}; '
                    'adjust the codec or the deconv layers')
        B, K = f.shape[0], self.out_channels
        with torch.autocast(device_type=f.device.type, enabled=False):
            f32 = f.float()
            sigma = torch.sigmoid(self.sigma_fc(f32)).reshape(
                B, K, 2) + self.sigma_floor
            mu = 0.5 + self.mu_fc(f32).reshape(B, K, 2)
        return heatmaps, mu, sigma

    @torch.no_grad()
    def render_h2(self,
                  mu: Tensor,
                  sigma: Tensor,
                  heatmap_size: Tuple[int, int],
                  chunk_points: int = 1 << 18) -> Tensor:
        """Render the learnable heatmap H2 (no gradients).

        H2 is the loss's density ``P(x | mu_hat, sigma_hat)`` at the pixel
        centres ``x = ((i + 0.5) / W, (j + 0.5) / H)`` (the labels of those
        pixels, see :class:`FlowHeatmapCodec`), divided by ``P`` at
        ``mu_hat`` (so H2 is 1 at ``mu_hat``). With an identity flow it is
        MMPose's unbiased Gaussian heatmap with std ``sigma_hat * W`` pixels.

        Args:
            mu (Tensor): ``mu_hat`` (B, K, 2).
            sigma (Tensor): ``sigma_hat`` (B, K, 2).
            heatmap_size (tuple): ``(W, H)``.
            chunk_points (int): Flow evaluations per chunk.

        Returns:
            Tensor: H2 (B, K, H, W), float32.
        """
        W, H = heatmap_size
        B, K = mu.shape[:2]
        device = mu.device
        mu = mu.float().reshape(B * K, 1, 1, 2)
        sigma = sigma.float().reshape(B * K, 1, 1, 2)
        ys, xs = torch.meshgrid(
            (torch.arange(H, device=device, dtype=torch.float32) + 0.5) / H,
            (torch.arange(W, device=device, dtype=torch.float32) + 0.5) / W,
            indexing='ij')
        grid = torch.stack([xs, ys], dim=-1)  # (H, W, 2)
        moments = self.loss_module.flow_moments(self.flow)
        rows = max(1, chunk_points // (H * W))
        log_p = torch.cat([
            self.loss_module.log_prob(grid, mu[i:i + rows], sigma[i:i + rows],
                                      self.flow, moments)
            for i in range(0, B * K, rows)
        ])  # (B*K, H, W)
        ref = self.loss_module.log_prob(mu, mu, sigma, self.flow,
                                        moments).reshape(B * K, 1, 1)
        # capped at e^80 so a flow whose density at mu_hat is far below its
        # mode still gives finite float32 values
        return torch.exp((log_p - ref).clamp(max=80.)).reshape(B, K, H, W)

    def predict_distribution(self,
                             feats,
                             batch_data_samples: OptSampleList,
                             test_cfg: ConfigType = {}) -> dict:
        """H1, ``mu_hat`` and ``sigma_hat`` of one crop, flip-merged.

        ``test_cfg``: ``flip_test`` (feats is then ``[feats,
        feats_of_flipped_input]``, merged by :func:`merging.flip_merge` with
        ``shift_heatmap`` and ``shift_coords``), ``flip_mode`` (only
        ``'heatmap'``). ``flip_indices`` comes from the samples' metainfo.

        Returns:
            dict: ``h1`` (B, K, H, W) float32, ``mu`` and ``sigma`` (B, K,
            2) in fractions of the crop side, all detached; with a fitted
            error head also its ``error_sigma`` (B, K, 2).
        """
        forward = self.forward_with_error if self.has_error_head \
            else self.forward
        if test_cfg.get('flip_test', False):
            h1, mu, sigma, *err = merging.flip_merge(
                forward, feats, batch_data_samples[0].metainfo['flip_indices'],
                test_cfg, self.decoder.input_size[0])
        else:
            heatmaps, mu, sigma, *err = forward(feats)
            h1 = heatmaps[-1].float()
        dist = dict(h1=h1.detach(), mu=mu.detach(), sigma=sigma.detach())
        if err:
            dist['error_sigma'] = err[0].detach()
        return dist

    @property
    def has_error_head(self) -> bool:
        """Whether a fitted :class:`KeypointErrorHead` reports the sigma."""
        return self.error_head is not None and self.error_head.is_fitted

    def forward_with_error(self, feats: Sequence[Tensor]):
        """:meth:`forward` and the error head's scales (B, K, 2), in
        fractions of the side, of the last H1 (from the spatial feature
        before ``f``)."""
        heatmaps, mu, sigma = self.forward(feats)
        return heatmaps, mu, sigma, self.error_head(
            tuple(feats)[-2], heatmaps[-1], mu, sigma)

    @staticmethod
    def reported_sigma(dist: dict, decode_source: str) -> Tensor:
        """The sigma of the returned keypoints: the error head's, unless
        it is absent or the keypoints are ``mu_hat``."""
        if decode_source != 'mu' and 'error_sigma' in dist:
            return dist['error_sigma']
        return dist['sigma']

    def decode_map(self, dist: dict, decode_source: str) -> Tensor:
        """The map ``decode_source`` decodes from a ``dist`` of
        :meth:`predict_distribution`: H1 (``'h1'``) or ``(1 - chi) H1 +
        chi H2`` (``'blend'``, H2 rendered unless ``dist`` has it),
        (B, K, H, W)."""
        if decode_source == 'h1':
            return dist['h1']
        if decode_source != 'blend':
            raise ValueError(f'DLMHead.decode_map: no map for decode_source '
                             f'{decode_source!r}')
        h2 = dist.get('h2')
        if h2 is None:
            h2 = self.render_h2(dist['mu'], dist['sigma'],
                                self.decoder.heatmap_size)
        return merging.blend_heatmaps(dist['h1'], h2, dist['sigma'])

    def decode(self, dist: dict,
               decode_source: str) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints (B, K, 2) in input-crop pixels and scores (B, K) of a
        distribution as :meth:`predict_distribution` gives it, or as the
        multi-scale test merged it (for ``'h1'`` / ``'blend'`` its merged
        ``map`` alone is enough), decoded from ``decode_source``."""
        merging.check_decode_source(decode_source, 'decode_source')
        if decode_source == 'mu':
            return self.decoder.decode_labels(dist['mu'].cpu().numpy(),
                                              dist['sigma'].cpu().numpy())
        hm = dist['map'] if 'map' in dist else self.decode_map(
            dist, decode_source)
        return self.decoder.batch_decode_tensor(hm)

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict keypoints, scores and sigmas (and optionally H1, H2).

        ``test_cfg``: those of :meth:`predict_distribution`,
        ``decode_source`` (``'h1'`` default, ``'mu'`` or ``'blend'``),
        ``output_heatmaps`` (default False) and ``output_h2`` (default True:
        with ``output_heatmaps`` also render H2, once, from the flip-merged
        ``(mu, sigma)``), and those of :meth:`SigmaCalibrator.pack`.

        Returns:
            list[InstanceData] | tuple: Per sample ``keypoints`` (1, K, 2)
            in input-crop pixels (the estimator maps them to the image),
            ``keypoint_scores`` (1, K) and ``keypoint_sigmas`` (1, K, 2) in
            image pixels; with ``output_heatmaps`` also ``PixelData`` with
            ``heatmaps`` (H1) and ``heatmaps_h2`` (H2), (K, H, W) each.
        """
        if self.decoder is None:
            raise RuntimeError('DLMHead.predict needs a decoder (set the '
                               "head's decoder to the FlowHeatmapCodec cfg)")
        decode_source = merging.check_decode_source(
            test_cfg.get('decode_source', 'h1'), 'DLMHead: test_cfg.'
            'decode_source')
        dist = self.predict_distribution(feats, batch_data_samples, test_cfg)
        output_heatmaps = test_cfg.get('output_heatmaps', False)
        if output_heatmaps and test_cfg.get('output_h2', True):
            dist['h2'] = self.render_h2(dist['mu'], dist['sigma'],
                                        self.decoder.heatmap_size)
        keypoints, scores = self.decode(dist, decode_source)
        preds = self.pack_predictions(keypoints, scores,
                                      self.reported_sigma(dist, decode_source),
                                      batch_data_samples, test_cfg)
        if output_heatmaps:
            return preds, self.pack_fields(dist['h1'], dist.get('h2'))
        return preds

    def pack_predictions(self,
                         keypoints: np.ndarray,
                         scores: np.ndarray,
                         sigma: Tensor,
                         batch_data_samples: OptSampleList = None,
                         test_cfg: OptConfigType = None) -> List[InstanceData]:
        """One ``InstanceData`` per sample: ``sigma_hat`` (B, K, 2, in
        fractions of the side) in input pixels, through
        :meth:`SigmaCalibrator.pack` (image pixels, calibrated, and the
        scores of ``test_cfg.score_mode``)."""
        return self.calibration.pack(
            keypoints, scores,
            self.decoder.sigmas_to_input(sigma.cpu().numpy()),
            batch_data_samples, test_cfg)

    @staticmethod
    def pack_fields(h1: Tensor, h2: Optional[Tensor]) -> List[PixelData]:
        """One ``PixelData`` per sample with ``heatmaps`` (and
        ``heatmaps_h2`` when ``h2`` is given), (K, H, W) each."""
        return [
            PixelData(heatmaps=h1[i]) if h2 is None else PixelData(
                heatmaps=h1[i], heatmaps_h2=h2[i]) for i in range(h1.shape[0])
        ]

    def loss(self,
             feats: Sequence[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """The loss and training diagnostics.

        Reads each sample's ``gt_fields.heatmaps`` (K, H, W) and
        ``gt_instance_labels.keypoint_labels`` (1, K, 2) and
        ``keypoint_weights`` (1, K), as :class:`FlowHeatmapCodec` encodes
        them. ``train_cfg``: ``compute_acc`` (default True) and
        ``grad_probe`` (the backbone's outputs, which
        :class:`MSTopdownPoseEstimator` gives when :class:`GradBalanceHook`
        asks).

        Returns:
            dict: ``loss_kpt``, and scalar diagnostics without "loss" in
            their names (mmengine sums those): ``h1_mse``, ``h2_nll`` (the
            H2 term), ``chi_mean``, ``sigma_px`` (mean ``sigma_hat`` in
            heatmap pixels), ``acc_pose`` (PCK of the last H1, on the
            device); with ``grad_probe`` also those of
            :func:`gradient_balance`.
        """
        heatmaps, mu, sigma = self.forward(feats)
        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        gt_labels = torch.cat(
            [d.gt_instance_labels.keypoint_labels for d in batch_data_samples])
        weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in batch_data_samples
        ])
        terms = self.loss_module.compute_terms(heatmaps, gt_heatmaps, mu,
                                               sigma, gt_labels, weights,
                                               self.flow)
        H, W = gt_heatmaps.shape[-2:]
        side = mu.new_tensor([W, H])
        losses = dict(
            loss_kpt=terms['total'],
            h1_mse=terms['h1'],
            h2_nll=terms['h2'],
            chi_mean=terms['chi'],
            sigma_px=(sigma.detach() * side).mean())
        probe = train_cfg.get('grad_probe')
        if probe:
            losses.update(
                gradient_balance(terms['total_h1'], terms['total_h2'], probe))
        if train_cfg.get('compute_acc', True):
            # on the device: no host copy of the heatmaps, no wait
            losses['acc_pose'] = heatmap_pck_accuracy(heatmaps[-1].detach(),
                                                      gt_heatmaps.detach(),
                                                      weights.detach() > 0)
        return losses
