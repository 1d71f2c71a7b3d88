"""The DLM head of SADI-Net (paper III-D): H1, (mu, sigma) and the flow."""
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.cnn import build_conv_layer, build_upsample_layer
from mmengine.structures import InstanceData, PixelData
from torch import Tensor, nn

from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)

from ...codecs import merging
from ...evaluation.functional import (CONDITIONS_LEN, conditions_hold,
                                      describe_conditions,
                                      heatmap_pck_accuracy, probability_within)

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
      the heatmap side, computed in float32), or ``mu_hat`` from a
      soft-argmax of the last H1 (``mu_source='soft_argmax'``).
    - a 2-D flow (default :class:`RealNVP2D`) that, with the loss's density
      ``P``, gives the learnable heatmap H2 (``P`` rendered on the heatmap
      grid, scaled to 1 at ``mu_hat``; rendered only for prediction).

    Input contract: ``feats = (*spatial_feats, f)`` with ``f`` in shape
    (B, vec_channels) last and at least ``num_stages`` spatial features
    (B, in_channels, h, w) before it (e.g. the output of ``SFMNeck``).

    Note:
        - batch size: B
        - number of keypoints: K
        - heatmap size: [W, H]
        - number of H1 stages: S (``num_stages``)

    Args:
        out_channels (int): Number of keypoints K.
        in_channels (int): Channels of the spatial features. Defaults to 256.
        vec_channels (int): Channels of ``f``. Defaults to 2048.
        num_stages (int): Number of spatial features (the last ones before
            ``f``) that get an H1 branch. Defaults to 1.
        deconv_out_channels (Sequence[int], optional): Output channels of
            the deconv layers of each H1 branch. Defaults to None (none).
        deconv_kernel_sizes (Sequence[int], optional): Their kernel sizes
            (4, 3 or 2). Defaults to None.
        conv_out_channels (Sequence[int], optional): Output channels of the
            conv layers after the deconvs. Defaults to None (none).
        conv_kernel_sizes (Sequence[int], optional): Their kernel sizes.
            Defaults to None.
        final_layer (dict): Extra arguments of the final conv of each branch.
            Defaults to ``dict(kernel_size=1)``.
        mu_source (str): ``'regression'`` (from ``f``) or ``'soft_argmax'``
            (of the last H1). Defaults to ``'regression'``.
        soft_argmax_beta (float): Inverse temperature of the soft-argmax.
            Defaults to 20.0.
        sigma_floor (float): Added to ``sigmoid(.)`` for ``sigma_hat``.
            Defaults to 1e-4.
        flow (dict): Config of the flow (``MODELS``). Defaults to
            ``dict(type='RealNVP2D')``.
        loss (dict): Config of the loss; it must provide ``compute_terms``,
            ``log_prob`` and ``flow_moments`` (as :class:`ChiWeightedLoss`).
            Defaults to ``dict(type='ChiWeightedLoss')``.
        decoder (dict, optional): Codec config (``KEYPOINT_CODECS``), e.g.
            :class:`FlowHeatmapCodec`; needed by :meth:`predict`.
            Defaults to None.
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
                 mu_source: str = 'regression',
                 soft_argmax_beta: float = 20.0,
                 sigma_floor: float = 1e-4,
                 flow: ConfigType = dict(type='RealNVP2D'),
                 loss: ConfigType = dict(type='ChiWeightedLoss'),
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        if mu_source not in ('regression', 'soft_argmax'):
            raise ValueError("DLMHead: mu_source must be 'regression' or "
                             f"'soft_argmax', got {mu_source!r}")
        if init_cfg is None:
            init_cfg = self._default_init_cfg(mu_source)
        super().__init__(init_cfg)
        if num_stages < 1:
            raise ValueError(
                f'DLMHead: num_stages must be >= 1, got {num_stages}')
        if out_channels < 1:
            raise ValueError(
                f'DLMHead: out_channels must be >= 1, got {out_channels}')
        _check_pairs('deconv_out_channels', deconv_out_channels,
                     'deconv_kernel_sizes', deconv_kernel_sizes)
        _check_pairs('conv_out_channels', conv_out_channels,
                     'conv_kernel_sizes', conv_kernel_sizes)

        self.in_channels = in_channels
        self.vec_channels = vec_channels
        self.out_channels = out_channels
        self.num_stages = num_stages
        self.mu_source = mu_source
        self.soft_argmax_beta = soft_argmax_beta
        self.sigma_floor = sigma_floor

        self.h1_branches = nn.ModuleList([
            self._make_h1_branch(deconv_out_channels, deconv_kernel_sizes,
                                 conv_out_channels, conv_kernel_sizes,
                                 final_layer) for _ in range(num_stages)
        ])
        if mu_source == 'regression':
            self.mu_fc = nn.Linear(vec_channels, out_channels * 2)
        self.sigma_fc = nn.Linear(vec_channels, out_channels * 2)
        self.flow = MODELS.build(flow)
        self.loss_module = MODELS.build(loss)
        for name in ('log_prob', 'moments'):
            if not callable(getattr(self.flow, name, None)):
                raise TypeError(f'DLMHead: the flow {type(self.flow)} has no '
                                f'method {name}() (use RealNVP2D)')
        for name in ('compute_terms', 'log_prob', 'flow_moments'):
            if not callable(getattr(self.loss_module, name, None)):
                raise TypeError(
                    f'DLMHead: the loss {type(self.loss_module)} has no '
                    f'method {name}() (use ChiWeightedLoss)')

        # sigma calibration fitted on held-out data (tools/calibrate_sigma.py):
        # a per-joint factor on the reported sigma and the degrees of freedom
        # of the 2-D Student t the calibrated sigma states (0: Gaussian).
        # They travel in the state dict; ones and zeros mean uncalibrated
        # (finite values, so weight checks and rank comparisons hold).
        self.register_buffer('sigma_calibration', torch.ones(out_channels))
        self.register_buffer('sigma_dof', torch.zeros(out_channels))
        # the person scale of the calibration split (head size, else box
        # side) over the crop's side: the probability score's radius unit
        # (0: not fitted)
        self.register_buffer('sigma_scale_ratio', torch.zeros(1))
        # the test settings of the fit (evaluation/functional/
        # fit_conditions.py; zeros: not recorded)
        self.register_buffer('sigma_fit_conditions',
                             torch.zeros(CONDITIONS_LEN))
        self._conditions_warned = False

        self.decoder = None
        if decoder is not None:
            self.decoder = KEYPOINT_CODECS.build(decoder)
            for name in ('heatmap_size', 'input_size'):
                if not hasattr(self.decoder, name):
                    raise TypeError(
                        f'DLMHead: the decoder {type(self.decoder).__name__} '
                        f'has no {name} (use FlowHeatmapCodec)')
            for name in ('decode_labels', 'sigmas_to_input'):
                if not callable(getattr(self.decoder, name, None)):
                    raise TypeError(
                        f'DLMHead: the decoder {type(self.decoder).__name__} '
                        f'has no method {name}() (use FlowHeatmapCodec)')

    @property
    def sigma_calibrated(self) -> bool:
        """Whether the sigma calibration buffers hold a fit."""
        return bool((self.sigma_calibration != 1).any()
                    or (self.sigma_dof > 0).any())

    def calibration_for(self, test_cfg: Optional[dict]) -> dict:
        """The calibration that holds under ``test_cfg``.

        Returns the fitted ``factors`` (K,), ``dof`` (K,) and
        ``calibrated`` (bool). A fit that recorded other test settings
        (flip, scales, decode source) than ``test_cfg``'s does not hold:
        the result is uncalibrated (factors 1, Gaussian) and a warning says
        so once.
        """
        factors = self.sigma_calibration.detach().cpu().numpy()
        dof = self.sigma_dof.detach().cpu().numpy().astype(np.float32)
        calibrated = self.sigma_calibrated
        if calibrated and conditions_hold(self.sigma_fit_conditions.cpu(),
                                          test_cfg) is False:
            if not self._conditions_warned:
                self._conditions_warned = True
                warnings.warn(
                    'DLMHead: the sigma calibration was fitted under '
                    f'{describe_conditions(self.sigma_fit_conditions.cpu())}'
                    ' and does not hold for this test (flip_test='
                    f"{bool((test_cfg or {}).get('flip_test', False))}, "
                    'decode_source='
                    f"{(test_cfg or {}).get('decode_source', 'h1')!r}, "
                    'scales as configured): the sigmas are reported '
                    'uncalibrated; refit with tools/calibrate_sigma.py under '
                    'these settings')
            factors = np.ones_like(factors)
            dof = np.zeros_like(dof)
            calibrated = False
        return dict(factors=factors, dof=dof, calibrated=calibrated)

    @staticmethod
    def _default_init_cfg(mu_source: str) -> list:
        fc_names = ['sigma_fc'
                    ] + (['mu_fc'] if mu_source == 'regression' else [])
        return [
            dict(
                type='Normal', layer=['Conv2d', 'ConvTranspose2d'], std=0.001),
            dict(type='Constant', layer='BatchNorm2d', val=1),
            dict(
                type='Normal',
                std=0.01,
                bias=0.,
                override=[dict(name=n) for n in fc_names]),
        ]

    def _make_h1_branch(self, deconv_out_channels: OptIntSeq,
                        deconv_kernel_sizes: OptIntSeq,
                        conv_out_channels: OptIntSeq,
                        conv_kernel_sizes: OptIntSeq,
                        final_layer: dict) -> nn.Sequential:
        """Deconvs (x2 each) -> convs -> final conv to K channels."""
        layers = []
        channels = self.in_channels
        padding_of = {4: (1, 0), 3: (1, 1), 2: (0, 0)}
        for out_ch, ks in zip(deconv_out_channels or (), deconv_kernel_sizes
                              or ()):
            if ks not in padding_of:
                raise ValueError('DLMHead: deconv kernel sizes must be 2, 3 '
                                 f'or 4, got {ks}')
            padding, output_padding = padding_of[ks]
            layers += [
                build_upsample_layer(
                    dict(
                        type='deconv',
                        in_channels=channels,
                        out_channels=out_ch,
                        kernel_size=ks,
                        stride=2,
                        padding=padding,
                        output_padding=output_padding,
                        bias=False)),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True)
            ]
            channels = out_ch
        for out_ch, ks in zip(conv_out_channels or (), conv_kernel_sizes
                              or ()):
            layers += [
                build_conv_layer(
                    dict(
                        type='Conv2d',
                        in_channels=channels,
                        out_channels=out_ch,
                        kernel_size=ks,
                        padding=(ks - 1) // 2)),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True)
            ]
            channels = out_ch
        cfg = dict(
            type='Conv2d',
            in_channels=channels,
            out_channels=self.out_channels,
            kernel_size=1)
        cfg.update(final_layer)
        layers.append(build_conv_layer(cfg))
        return nn.Sequential(*layers)

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def forward(self, feats: Sequence[Tensor]
                ) -> Tuple[List[Tensor], Tensor, Tensor]:
        """Compute H1 for every stage and ``mu_hat``, ``sigma_hat``.

        Runs without data samples (MMPose's FLOPs counter calls it).

        Args:
            feats (Sequence[Tensor]): ``(*spatial_feats, f)``; the last
                ``num_stages`` spatial features (B, in_channels, h, w) feed
                H1, ``f`` (B, vec_channels) feeds ``mu_hat`` / ``sigma_hat``.

        Returns:
            tuple:
            - heatmaps (List[Tensor]): S heatmaps H1 in shape (B, K, H, W),
              the last one the final prediction.
            - mu (Tensor): ``mu_hat`` in shape (B, K, 2), float32.
            - sigma (Tensor): ``sigma_hat`` in shape (B, K, 2), float32.
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
        mu, sigma = self._regress(f, heatmaps[-1])
        return heatmaps, mu, sigma

    def _regress(self, f: Tensor, heatmap: Tensor) -> Tuple[Tensor, Tensor]:
        """``mu_hat`` and ``sigma_hat`` (B, K, 2), in float32."""
        B, K = f.shape[0], self.out_channels
        with torch.autocast(device_type=f.device.type, enabled=False):
            f32 = f.float()
            sigma = torch.sigmoid(self.sigma_fc(f32)).reshape(
                B, K, 2) + self.sigma_floor
            if self.mu_source == 'regression':
                mu = 0.5 + self.mu_fc(f32).reshape(B, K, 2)
            else:
                mu = self._soft_argmax(heatmap.float())
        return mu, sigma

    def _soft_argmax(self, heatmap: Tensor) -> Tensor:
        """Expected normalised position under softmax(beta * H1)."""
        B, K, H, W = heatmap.shape
        prob = torch.softmax(
            self.soft_argmax_beta * heatmap.reshape(B, K, H * W),
            dim=-1).reshape(B, K, H, W)
        # the label of heatmap pixel j is (j + 0.5) / W (pixel centres)
        xs = (torch.arange(W, device=heatmap.device, dtype=prob.dtype) +
              0.5) / W
        ys = (torch.arange(H, device=heatmap.device, dtype=prob.dtype) +
              0.5) / H
        mu_x = (prob.sum(2) * xs).sum(-1)
        mu_y = (prob.sum(3) * ys).sum(-1)
        return torch.stack([mu_x, mu_y], dim=-1)

    # ------------------------------------------------------------------
    # H2
    # ------------------------------------------------------------------
    @torch.no_grad()
    def render_h2(self,
                  mu: Tensor,
                  sigma: Tensor,
                  heatmap_size: Tuple[int, int],
                  normalize: str = 'mu',
                  chunk_points: int = 1 << 18) -> Tensor:
        """Render the learnable heatmap H2 (no gradients).

        H2 is the loss's density ``P(x | mu_hat, sigma_hat)`` at the pixel
        centres ``x = ((i + 0.5) / W, (j + 0.5) / H)`` (the labels of those
        pixels, see :class:`FlowHeatmapCodec`), divided by ``P`` at ``mu_hat``
        (``normalize='mu'``, so H2 is 1 at ``mu_hat``) or by its maximum on
        the grid (``'max'``). With an identity flow it is MMPose's unbiased
        Gaussian heatmap with std ``sigma_hat * W`` pixels.

        Args:
            mu (Tensor): ``mu_hat`` in shape (B, K, 2).
            sigma (Tensor): ``sigma_hat`` in shape (B, K, 2).
            heatmap_size (tuple): ``(W, H)``.
            normalize (str): ``'mu'`` or ``'max'``. Defaults to ``'mu'``.
            chunk_points (int): Flow evaluations per chunk.
                Defaults to 2**18.

        Returns:
            Tensor: H2 in shape (B, K, H, W), float32.
        """
        if normalize not in ('mu', 'max'):
            raise ValueError("DLMHead.render_h2: normalize must be 'mu' or "
                             f"'max', got {normalize!r}")
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
        if normalize == 'mu':
            ref = self.loss_module.log_prob(mu, mu, sigma, self.flow,
                                            moments).reshape(B * K, 1, 1)
        else:
            ref = log_p.flatten(1).amax(-1).reshape(B * K, 1, 1)
        # capped at e^80 so a flow whose density at mu_hat is far below its
        # mode still gives finite float32 values
        return torch.exp((log_p - ref).clamp(max=80.)).reshape(B, K, H, W)

    # ------------------------------------------------------------------
    # predict / loss
    # ------------------------------------------------------------------
    def predict_distribution(self,
                             feats,
                             batch_data_samples: OptSampleList,
                             test_cfg: ConfigType = {}) -> dict:
        """H1, ``mu_hat`` and ``sigma_hat`` of one crop, flip-merged.

        ``test_cfg`` keys: ``flip_test`` (feats is then ``[feats,
        feats_of_flipped_input]``), ``flip_mode`` (only ``'heatmap'``),
        ``shift_heatmap`` (default False), ``shift_coords`` (flip shift of
        ``mu_hat``, default True). Under the flip test each output is the
        mean of the crop's and the mirrored crop's, mapped back by
        :mod:`sadinet_mmpose.codecs.merging`.

        Args:
            feats (Sequence[Tensor] | list): Features (two sets with flip
                test).
            batch_data_samples (List[PoseDataSample]): The data samples
                (``flip_indices`` is read from their metainfo).
            test_cfg (dict): See above. Defaults to {}.

        Returns:
            dict: ``h1`` (B, K, H, W) float32, ``mu`` and ``sigma`` (B, K,
            2) in fractions of the crop side, all detached.
        """
        if test_cfg.get('flip_test', False):
            if not (isinstance(feats, list) and len(feats) == 2):
                raise ValueError('DLMHead: with flip_test, feats must be '
                                 '[feats, feats_of_flipped_input]')
            flip_mode = test_cfg.get('flip_mode', 'heatmap')
            if flip_mode != 'heatmap':
                raise ValueError("DLMHead supports flip_mode='heatmap' only, "
                                 f'got {flip_mode!r}')
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            heatmaps, mu, sigma = self.forward(feats[0])
            heatmaps_f, mu_f, sigma_f = self.forward(feats[1])
            h1 = 0.5 * (
                heatmaps[-1].float() + merging.flip_back_heatmaps(
                    heatmaps_f[-1].float(), flip_indices,
                    test_cfg.get('shift_heatmap', False)))
            mu = 0.5 * (
                mu + merging.flip_back_labels(
                    mu_f, flip_indices, test_cfg.get('shift_coords', True),
                    self.decoder.input_size[0]))
            sigma = 0.5 * (
                sigma + merging.flip_back_sigmas(sigma_f, flip_indices))
        else:
            heatmaps, mu, sigma = self.forward(feats)
            h1 = heatmaps[-1].float()
        return dict(h1=h1.detach(), mu=mu.detach(), sigma=sigma.detach())

    def decode_map(self,
                   dist: dict,
                   decode_source: str,
                   h2_normalize: str = 'mu') -> Tensor:
        """The heatmap that ``decode_source`` decodes (not for ``'mu'``).

        Args:
            dist (dict): :meth:`predict_distribution`'s output (``h2`` is
                used when present, else rendered).
            decode_source (str): ``'h1'`` or ``'blend'``.
            h2_normalize (str): See :meth:`render_h2`. Defaults to ``'mu'``.

        Returns:
            Tensor: H1, or ``(1 - chi) H1 + chi H2``, (B, K, H, W).
        """
        if decode_source == 'h1':
            return dist['h1']
        if decode_source != 'blend':
            raise ValueError(f'DLMHead.decode_map: no map for decode_source '
                             f'{decode_source!r}')
        h2 = dist.get('h2')
        if h2 is None:
            h2 = self.render_h2(
                dist['mu'],
                dist['sigma'],
                self.decoder.heatmap_size,
                normalize=h2_normalize)
        return merging.blend_heatmaps(dist['h1'], h2, dist['sigma'])

    def decode(self,
               dist: dict,
               decode_source: str,
               h2_normalize: str = 'mu') -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints and scores of a (merged) distribution.

        Args:
            dist (dict): ``h1``, ``mu``, ``sigma`` (and optionally ``h2``)
                as :meth:`predict_distribution` gives them, or as the
                multi-scale test merged them; for ``'h1'`` / ``'blend'`` a
                dict with the merged ``map`` alone is enough.
            decode_source (str): ``'h1'``, ``'mu'`` or ``'blend'``.
            h2_normalize (str): See :meth:`render_h2`. Defaults to ``'mu'``.

        Returns:
            tuple: ``keypoints`` (B, K, 2) in input-crop pixels and
            ``scores`` (B, K).
        """
        merging.check_decode_source(decode_source, 'decode_source')
        if decode_source == 'mu':
            return self.decoder.decode_labels(dist['mu'].cpu().numpy(),
                                              dist['sigma'].cpu().numpy())
        hm = dist['map'] if 'map' in dist else self.decode_map(
            dist, decode_source, h2_normalize)
        return self.decoder.batch_decode_tensor(hm)

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict keypoints, scores and sigmas (and optionally H1, H2).

        ``test_cfg`` keys: those of :meth:`predict_distribution`;
        ``decode_source`` (``'h1'`` default, ``'mu'``, or ``'blend'`` =
        ``(1 - chi) H1 + chi H2``), ``output_heatmaps`` (default False),
        ``output_h2`` (default True: with ``output_heatmaps`` also render
        H2), ``h2_normalize`` (``'mu'`` default, or ``'max'``). H2 is
        rendered once from the flip-merged ``(mu, sigma)``.

        Args:
            feats (Sequence[Tensor] | list): Features (two sets with flip
                test).
            batch_data_samples (List[PoseDataSample]): The data samples.
            test_cfg (dict): See above. Defaults to {}.

        Returns:
            list[InstanceData] | tuple: Per sample ``InstanceData`` with
            ``keypoints`` (1, K, 2) in input-crop pixels (the estimator maps
            them to the image), ``keypoint_scores`` (1, K) and
            ``keypoint_sigmas`` (1, K, 2) in image pixels (see
            :meth:`pack_predictions`);
            with ``output_heatmaps`` also a list of ``PixelData`` with
            ``heatmaps`` (H1, (K, H, W)) and, unless ``output_h2=False``,
            ``heatmaps_h2`` (H2, (K, H, W)).
        """
        if self.decoder is None:
            raise RuntimeError('DLMHead.predict needs a decoder (set the '
                               "head's decoder to the FlowHeatmapCodec cfg)")
        decode_source = merging.check_decode_source(
            test_cfg.get('decode_source', 'h1'), 'DLMHead: test_cfg.'
            'decode_source')
        dist = self.predict_distribution(feats, batch_data_samples, test_cfg)
        output_heatmaps = test_cfg.get('output_heatmaps', False)
        output_h2 = output_heatmaps and test_cfg.get('output_h2', True)
        h2_normalize = test_cfg.get('h2_normalize', 'mu')
        if output_h2:
            dist['h2'] = self.render_h2(
                dist['mu'],
                dist['sigma'],
                self.decoder.heatmap_size,
                normalize=h2_normalize)
        keypoints, scores = self.decode(dist, decode_source, h2_normalize)
        preds = self.pack_predictions(keypoints, scores, dist['sigma'],
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
        """One ``InstanceData`` per sample (see :meth:`predict`).

        ``keypoint_sigmas`` are in the pixels of the original image: the
        crop's ``sigma_hat * input_size`` times ``input_scale / input_size``
        of the sample's metainfo, as the estimator maps the keypoints (input
        pixels, without metainfo), times the per-joint
        ``sigma_calibration``. ``sigma_calibrated`` (1,) says whether the
        buffers hold a fit; a fitted Student t adds ``keypoint_sigma_dof``
        (1, K).

        With ``test_cfg.score_mode='probability'`` the scores are
        ``P(error <= score_tau * s)`` under the calibrated distribution,
        ``s`` the person scale estimated as ``sigma_scale_ratio`` times the
        crop's side in the image (``score_tau`` 0.5 by default: PCKh@0.5's
        radius); the default ``'heatmap'`` keeps the decoder's scores.

        Args:
            keypoints (np.ndarray): (B, K, 2) in input-crop pixels.
            scores (np.ndarray): (B, K).
            sigma (Tensor): ``sigma_hat`` (B, K, 2), fractions of the side.
            batch_data_samples (List[PoseDataSample], optional): The data
                samples (``input_size``, ``input_scale``).
            test_cfg (dict, optional): ``score_mode``, ``score_tau``.

        Returns:
            list[InstanceData]
        """
        test_cfg = test_cfg or {}
        cal = self.calibration_for(test_cfg)
        sig = self.decoder.sigmas_to_input(sigma.cpu().numpy())
        sig = sig * cal['factors'][None, :, None]
        calibrated, dof = cal['calibrated'], cal['dof']
        student = bool((dof > 0).any())
        mode = test_cfg.get('score_mode', 'heatmap')
        if mode not in ('heatmap', 'probability'):
            raise ValueError("DLMHead: test_cfg.score_mode must be 'heatmap' "
                             f"or 'probability', got {mode!r}")
        ratio = float(self.sigma_scale_ratio[0])
        if mode == 'probability' and not (ratio > 0 and calibrated):
            raise ValueError(
                "DLMHead: test_cfg.score_mode='probability' needs a "
                'calibrated checkpoint (tools/calibrate_sigma.py fits the '
                'person scale it uses) fitted under the settings it tests '
                'with; this one is uncalibrated for them')
        scores = np.array(scores, copy=True)
        for i, ds in enumerate(batch_data_samples or []):
            meta = ds.metainfo
            if 'input_size' in meta and 'input_scale' in meta:
                size = np.asarray(meta['input_size'], dtype=np.float32)
                scale = np.asarray(
                    meta['input_scale'], dtype=np.float32).reshape(-1)[:2]
                sig[i] = sig[i] * (scale / size)
                if mode == 'probability':
                    radius = float(test_cfg.get('score_tau', 0.5)) * \
                        ratio * float(scale.max())
                    scores[i] = probability_within(
                        radius, sig[i][None],
                        dof[None] if student else None)[0]
        preds = []
        for i in range(sig.shape[0]):
            inst = InstanceData(
                keypoints=keypoints[i:i + 1],
                keypoint_scores=scores[i:i + 1],
                keypoint_sigmas=sig[i:i + 1],
                sigma_calibrated=np.array([calibrated]))
            if student:
                inst.keypoint_sigma_dof = dof[None]
            preds.append(inst)
        return preds

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
        """Compute the loss and training diagnostics.

        Reads ``gt_fields.heatmaps`` (K, H, W), ``gt_instance_labels.
        keypoint_labels`` (1, K, 2) and ``keypoint_weights`` (1, K) of each
        sample (as :class:`FlowHeatmapCodec` encodes them).

        Args:
            feats (Sequence[Tensor]): ``(*spatial_feats, f)``.
            batch_data_samples (List[PoseDataSample]): The data samples.
                train_cfg (dict): ``compute_acc`` (default True) and
                ``grad_probe`` (tensors upstream of the head, e.g. the
                backbone's outputs, set by :class:`MSTopdownPoseEstimator`
                on diagnostic iterations). Defaults to {}.

        Returns:
            dict: ``loss_kpt`` (the chi-weighted loss, summed over stages),
            and diagnostics without "loss" in their names (mmengine sums
            those): ``h1_mse``, ``h2_nll`` (the H2 term, also with
            ``h2_loss='mse'``), ``chi_mean``, ``sigma_px`` (mean
            ``sigma_hat`` in heatmap pixels) and ``acc_pose`` (PCK of the
            last H1, in float32 on the device: no host copy), all scalars;
            with ``train_cfg['grad_probe']`` also those of
            :meth:`gradient_balance`.
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
            losses.update(self.gradient_balance(terms, probe))
        if train_cfg.get('compute_acc', True):
            # on the device: no host copy of the heatmaps, no wait
            losses['acc_pose'] = heatmap_pck_accuracy(heatmaps[-1].detach(),
                                                      gt_heatmaps.detach(),
                                                      weights.detach() > 0)
        return losses

    @staticmethod
    def gradient_balance(terms: dict, probe: Sequence[Tensor]) -> dict:
        """Norms of the gradients the two loss terms send into ``probe``.

        Two extra backward passes from the weighted H1 and H2 parts of the
        loss down to ``probe`` only (the graph is kept for the training
        step's own backward; no parameter gradient is touched).

        Args:
            terms (dict): The loss's :meth:`compute_terms` output, with
                ``total_h1`` and ``total_h2``.
            probe (Sequence[Tensor]): Tensors upstream of the head (the
                backbone's outputs) that require gradients.

        Returns:
            dict: ``grad_h1``, ``grad_h2`` (L2 norms over all of ``probe``)
            and ``grad_ratio`` (``grad_h2 / grad_h1``), detached scalars.
        """
        probe = [t for t in probe if t.requires_grad]
        norms = []
        for key in ('total_h1', 'total_h2'):
            part = terms[key]
            if not probe or not part.requires_grad:
                norms.append(part.new_zeros(()))
                continue
            grads = torch.autograd.grad(
                part, probe, retain_graph=True, allow_unused=True)
            sq = [
                g.detach().float().pow(2).sum() for g in grads if g is not None
            ]
            norms.append(
                torch.stack(sq).sum().sqrt() if sq else part.new_zeros(()))
        g1, g2 = norms
        return dict(
            grad_h1=g1, grad_h2=g2, grad_ratio=g2 / g1.clamp_min(1e-20))


def _check_pairs(name_a: str, a: OptIntSeq, name_b: str, b: OptIntSeq) -> None:
    if a and (b is None or len(a) != len(b)):
        raise ValueError(f'DLMHead: {name_a}={a} and {name_b}={b} must be '
                         'sequences of the same length')
