"""The chi-weighted SADI-Net loss (paper III-E, Eq. 4-8)."""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from mmpose.registry import MODELS

_LOG_2PI = math.log(2 * math.pi)
_LOG_2 = math.log(2.)


@MODELS.register_module()
class ChiWeightedLoss(nn.Module):
    """SADI-Net's loss: ``L = (1 - chi) * L_H1 + chi * L_H2`` per joint.

    - ``L_H1``: per-joint MSE of the predicted heatmap H1 against the codec's
      Gaussian target (a Gaussian pixel likelihood, Eq. 6), summed over the
      stages when several H1 are given (intermediate supervision).
    - ``L_H2 = -log P(gt)``: the negative log-likelihood of the ground truth
      under the learnable distribution (Eq. 4/7). With
      ``xb = (gt - mu_hat) / sigma_hat``,
      ``P(xb) = 1/2 [Q(xb) + I(xb)]`` (``combine='mixture'``), ``Q`` the
      standard 2-D Gaussian, ``I`` the flow's distribution ``G``
      standardised to zero mean and unit std (Eq. 5):
      ``I(xb) = s_x s_y G(m + s * xb)``, where ``m, s`` are the flow's
      moments estimated by a Gauss-Hermite rule (differentiable). The change
      of variables ``x = mu_hat + sigma_hat * xb`` adds
      ``log sigma_x + log sigma_y``. Only the B*K ground-truth points go
      through the flow: memory grows with B*K, never with the heatmap size.
    - ``chi = sigma_hat`` per joint (mean over x, y), detached.

    ``h2_loss='mse'`` replaces the negative log-likelihood by the paper's
    literal naming of both terms as MSE (III-E, Table V): H2 is rendered
    *with gradients* through the flow on a ``mse_window`` x ``mse_window``
    window of heatmap pixels around each ground-truth joint (normalised to 1
    at its centre, as :meth:`DLMHead.render_h2`), in two terms
    (:meth:`window_h2_mse`): H2 at ``mu_hat`` against H2 at the truth (the
    location, smallest at ``mu_hat = gt`` for every sigma), and H2 at the
    truth against the codec's Gaussian target (the shape); pixels outside
    the heatmap are left out. Only ``2 * M * mse_window**2`` points go
    through the flow, never ``M * H * W``.

    ``h1_reduction`` balances the two terms: ``'sum'`` (the default) sums
    the squared H1 error over the ``H * W`` pixels, which puts the gradient
    H1 sends into the shared backbone on the scale of the flow term's;
    ``'mean'`` is the per-pixel mean, the paper's literal form, whose H1
    gradient is about ``H * W`` times smaller (docs/ablation.md).

    The mean is taken over valid joints (weight > 0), selected before any
    arithmetic so non-finite values on zero-weight joints change nothing.
    Everything runs in float32 with autocast disabled.

    Note:
        - batch size: B
        - number of keypoints: K
        - heatmap size: [W, H]
        - number of valid joints: M
        - number of H1 stages: S

    Args:
        weighting (str): ``'chi'`` (``chi = sigma_hat``, the paper's
            default), ``'sum'`` (``L_H1 + L_H2``, Table V's unweighted
            ablation) or ``'constant'`` (``chi = chi_value``).
            Defaults to ``'chi'``.
        chi_value (float): chi for ``weighting='constant'``. Defaults to 0.5.
        combine (str): ``'mixture'`` (``P = (Q + I) / 2``) or ``'product'``
            (RLE's residual form ``log P = log Q + log I``, unnormalised).
            Defaults to ``'mixture'``.
        eq5 (str): ``'standardised'`` (``I(xb) = s_x s_y G(m + s xb)``, a
            density with zero mean and unit std) or ``'literal'``
            (``I(xb) = G((xb - m) / s)`` as printed; its mass is
            ``s_x s_y``). Defaults to ``'standardised'``.
        num_gh_nodes (int): Gauss-Hermite nodes per axis for the flow's
            moments (n*n points through the flow). Defaults to 32.
        h1_weight (float): Factor on ``L_H1``. Defaults to 1.0.
        h2_weight (float): Factor on ``L_H2``. Defaults to 1.0.
        loss_weight (float): Factor on the total. Defaults to 1.0.
        sigma_floor (float): Lower bound of ``sigma_hat`` inside the loss.
            Defaults to 1e-4.
        max_offset (float): The value of ``|gt - mu_hat|`` is clamped to this
            (in units of the heatmap side; the gradient passes straight
            through) so the log terms stay finite for any finite input.
            Defaults to 1e3.
        flow_radius (float): The flow is evaluated only for
            ``|xb| <= flow_radius``; beyond it ``log I`` is capped at
            ``log Q`` so the Gaussian term keeps pulling mu back.
            Defaults to 1e3.
        h2_loss (str): ``'nll'`` (``-log P(gt)``) or ``'mse'`` (windowed
            MSE of the rendered H2 against the Gaussian target).
            Defaults to ``'nll'``.
        mse_window (int): Odd side of the window for ``h2_loss='mse'``, in
            heatmap pixels. Defaults to 9.
        h1_reduction (str): ``'mean'`` or ``'sum'`` of the squared H1 error
            over the pixels of a joint's heatmap. Defaults to ``'sum'``.
    """

    def __init__(self,
                 weighting: str = 'chi',
                 chi_value: float = 0.5,
                 combine: str = 'mixture',
                 eq5: str = 'standardised',
                 num_gh_nodes: int = 32,
                 h1_weight: float = 1.0,
                 h2_weight: float = 1.0,
                 loss_weight: float = 1.0,
                 sigma_floor: float = 1e-4,
                 max_offset: float = 1e3,
                 flow_radius: float = 1e3,
                 h2_loss: str = 'nll',
                 mse_window: int = 9,
                 h1_reduction: str = 'sum') -> None:
        super().__init__()
        _check_choice('weighting', weighting, ('chi', 'sum', 'constant'))
        _check_choice('h2_loss', h2_loss, ('nll', 'mse'))
        _check_choice('h1_reduction', h1_reduction, ('mean', 'sum'))
        if mse_window < 1 or mse_window % 2 == 0:
            raise ValueError('ChiWeightedLoss: mse_window must be an odd '
                             f'integer >= 1, got {mse_window}')
        _check_choice('combine', combine, ('mixture', 'product'))
        _check_choice('eq5', eq5, ('standardised', 'literal'))
        if not 0. <= chi_value <= 1.:
            raise ValueError(
                f'ChiWeightedLoss: chi_value must be in [0, 1], got '
                f'{chi_value}')
        if num_gh_nodes < 2:
            raise ValueError('ChiWeightedLoss: num_gh_nodes must be >= 2, '
                             f'got {num_gh_nodes}')
        self.weighting = weighting
        self.chi_value = chi_value
        self.combine = combine
        self.eq5 = eq5
        self.num_gh_nodes = num_gh_nodes
        self.h1_weight = h1_weight
        self.h2_weight = h2_weight
        self.loss_weight = loss_weight
        self.sigma_floor = sigma_floor
        self.max_offset = max_offset
        self.flow_radius = flow_radius
        self.h2_loss = h2_loss
        self.mse_window = int(mse_window)
        self.h1_reduction = h1_reduction

    # ------------------------------------------------------------------
    # the learnable density
    # ------------------------------------------------------------------
    def flow_moments(self, flow: nn.Module) -> Tuple[Tensor, Tensor]:
        """Mean ``m`` (2,) and std ``s`` (2,) of the flow's distribution."""
        return flow.moments(self.num_gh_nodes)

    def log_prob_standard(self,
                          xb: Tensor,
                          flow: nn.Module,
                          moments: Optional[Tuple[Tensor,
                                                  Tensor]] = None) -> Tensor:
        """``log P(xb)`` in the normalised space ``xb = (x - mu) / sigma``.

        Args:
            xb (Tensor): Normalised points in shape (*, 2).
            flow (nn.Module): The flow (:class:`RealNVP2D` or any module with
                ``log_prob`` and ``moments``).
            moments (tuple, optional): ``(m, s)`` from :meth:`flow_moments`,
                computed here when not given. Defaults to None.

        Returns:
            Tensor: ``log P(xb)`` in shape (*), float32.
        """
        with torch.autocast(device_type=xb.device.type, enabled=False):
            xb = xb.float()
            m, s = self.flow_moments(flow) if moments is None else moments
            log_q = -0.5 * (xb**2).sum(-1) - _LOG_2PI
            far = (xb.abs() > self.flow_radius).any(-1)
            xb_in = xb.clamp(-self.flow_radius, self.flow_radius)
            if self.eq5 == 'standardised':
                log_i = flow.log_prob(m + s * xb_in) + s.log().sum()
            else:
                log_i = flow.log_prob((xb_in - m) / s)
            log_i = torch.where(far, torch.minimum(log_i, log_q), log_i)
            if self.combine == 'mixture':
                return torch.logaddexp(log_q, log_i) - _LOG_2
            return log_q + log_i

    def log_prob(self,
                 x: Tensor,
                 mu: Tensor,
                 sigma: Tensor,
                 flow: nn.Module,
                 moments: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        """Log-density of the learnable distribution at ``x``.

        The density is per unit area of the normalised coordinates (x in
        fractions of the heatmap side). The head renders H2 with this same
        function, so the trained and the rendered densities are one.

        Args:
            x (Tensor): Points in shape (*, 2).
            mu (Tensor): ``mu_hat`` broadcastable to (*, 2).
            sigma (Tensor): ``sigma_hat`` broadcastable to (*, 2).
            flow (nn.Module): The flow.
            moments (tuple, optional): The flow's ``(m, s)``.
                Defaults to None.

        Returns:
            Tensor: ``log P(x | mu, sigma)`` in shape (*), float32.
        """
        with torch.autocast(device_type=x.device.type, enabled=False):
            sigma = sigma.float().clamp_min(self.sigma_floor)
            offset = x.float() - mu.float()
            # straight-through clamp: bounded value, gradient kept so a mu
            # far outside the crop is still pulled back
            offset = offset + (offset.clamp(-self.max_offset, self.max_offset)
                               - offset).detach()
            xb = offset / sigma
            return (self.log_prob_standard(xb, flow, moments) -
                    sigma.log().sum(-1))

    def window_h2_mse(self, target: Tensor, gt: Tensor, mu: Tensor,
                      sigma: Tensor, flow: nn.Module) -> Tensor:
        """MSE of H2 on a window per joint: its location and its shape.

        H2 is the flow density normalised to 1 at its centre (as
        :meth:`DLMHead.render_h2`). Comparing H2 at ``mu_hat`` with the
        codec's Gaussian target directly would pull ``mu_hat`` off the truth
        whenever H2's width differs from the target's (a wide H2 lowers its
        error by moving part of its mass out of the window). The loss is
        therefore split in two terms on the window's pixels:

        - location: H2 at ``mu_hat`` against H2 at the ground truth, both
          with ``sigma_hat`` detached (the latter the target). It is 0 at
          ``mu_hat = gt`` whatever sigma, the flow or the window, and
          larger elsewhere.
        - shape: H2 at the ground truth (gradients into ``sigma_hat`` and
          the flow) against the codec's target, independent of ``mu_hat``.

        Note:
            - number of joints: M
            - window side: N (``mse_window``)

        Args:
            target (Tensor): Gaussian targets of the joints, (M, H, W).
            gt (Tensor): Ground truth in fractions of the side, (M, 2).
            mu (Tensor): ``mu_hat`` (M, 2).
            sigma (Tensor): ``sigma_hat`` (M, 2).
            flow (nn.Module): The flow.

        Returns:
            Tensor: Per-joint sum of the two terms' mean squared errors over
            the window pixels inside the heatmap, (M,), float32,
            differentiable in mu, sigma and the flow.
        """
        M, H, W = target.shape
        r = self.mse_window // 2
        device = target.device
        side = gt.new_tensor([W, H])
        # heatmap pixel j has the label (j + 0.5) / W (pixel centres)
        gt = gt.detach()
        centre = torch.round(gt * side - 0.5).long()  # (M, 2) x, y
        d = torch.arange(-r, r + 1, device=device)
        dy, dx = torch.meshgrid(d, d, indexing='ij')
        ix = centre[:, 0, None, None] + dx  # (M, N, N)
        iy = centre[:, 1, None, None] + dy
        inside = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H)
        ixc, iyc = ix.clamp(0, W - 1), iy.clamp(0, H - 1)
        rows = torch.arange(M, device=device)[:, None, None]
        t = target[rows, iyc, ixc]  # (M, N, N)
        pts = torch.stack([(ixc.float() + 0.5) / W, (iyc.float() + 0.5) / H],
                          dim=-1)
        moments = self.flow_moments(flow)

        def render(centre_pt, sig):
            log_p = self.log_prob(pts, centre_pt[:, None, None],
                                  sig[:, None, None], flow, moments)
            log_ref = self.log_prob(centre_pt, centre_pt, sig, flow, moments)
            return torch.exp((log_p - log_ref[:, None, None]).clamp(max=30.))

        h2_truth = render(gt, sigma)  # shape: sigma, flow
        h2_mu = render(mu, sigma.detach())  # location: mu
        zero = torch.zeros_like(t)
        err = torch.where(inside, (h2_mu - h2_truth.detach())**2, zero) + \
            torch.where(inside, (h2_truth - t)**2, zero)
        return err.flatten(1).sum(-1) / inside.flatten(1).sum(-1).clamp_min(1)

    # ------------------------------------------------------------------
    # the loss
    # ------------------------------------------------------------------
    def compute_terms(self, heatmaps: Union[Tensor, Sequence[Tensor]],
                      gt_heatmaps: Tensor, mu: Tensor, sigma: Tensor,
                      gt_labels: Tensor, keypoint_weights: Tensor,
                      flow: nn.Module) -> Dict[str, Tensor]:
        """Compute the loss and its parts.

        Args:
            heatmaps (Tensor | Sequence[Tensor]): H1 in shape (B, K, H, W),
                or one such tensor per stage (S of them).
            gt_heatmaps (Tensor): Gaussian targets in shape (B, K, H, W).
            mu (Tensor): ``mu_hat`` in shape (B, K, 2), in [0, 1] of the
                heatmap side.
            sigma (Tensor): ``sigma_hat`` in shape (B, K, 2).
            gt_labels (Tensor): Ground truth in shape (B, K, 2), same units.
            keypoint_weights (Tensor): Weights in shape (B, K); joints with
                weight <= 0 are ignored (their values may be non-finite).
            flow (nn.Module): The flow.

        Returns:
            dict:
            - total (Tensor): scalar loss, ``loss_weight`` applied.
            - total_h1 (Tensor): the H1 part of ``total`` (with gradients).
            - total_h2 (Tensor): the H2 part of ``total`` (with gradients).
            - h1 (Tensor): scalar, mean ``L_H1`` over valid joints
              (summed over stages).
            - h2 (Tensor): scalar, mean ``L_H2`` over valid joints
              (the NLL, or the windowed MSE with ``h2_loss='mse'``).
            - chi (Tensor): scalar, mean chi over valid joints (``sigma_hat``
              for ``'sum'``, where no chi is used).
            - num_valid (Tensor): scalar M.
        """
        if isinstance(heatmaps, Tensor):
            heatmaps = [heatmaps]
        B, K = mu.shape[:2]
        for i, hm in enumerate(heatmaps):
            if hm.shape != gt_heatmaps.shape:
                raise ValueError(
                    f'ChiWeightedLoss: H1 of stage {i} has shape '
                    f'{tuple(hm.shape)} but the target heatmaps have shape '
                    f'{tuple(gt_heatmaps.shape)} (check the codec\'s '
                    'heatmap_size against the head\'s output size)')
        weights = keypoint_weights.reshape(B, K)
        with torch.autocast(device_type=mu.device.type, enabled=False):
            valid = weights > 0
            w = weights[valid].float()  # (M,)
            num_valid = valid.sum()
            denom = num_valid.clamp_min(1).float()

            # L_H1: per-joint MSE, summed over stages
            target = gt_heatmaps[valid].float()  # (M, H, W)
            reduce = (torch.mean if self.h1_reduction == 'mean' else torch.sum)
            l_h1 = sum(
                reduce(((hm[valid].float() - target)**2).flatten(1), dim=-1)
                for hm in heatmaps)

            mu_v = mu[valid].float()
            sigma_v = sigma[valid].float()
            gt_v = gt_labels[valid].float()
            if self.h2_loss == 'nll':
                # L_H2 = -log P(gt) at the M ground-truth points only
                l_h2 = -self.log_prob(gt_v, mu_v, sigma_v, flow)
            else:
                l_h2 = self.window_h2_mse(target, gt_v, mu_v, sigma_v, flow)

            sigma_chi = sigma_v.detach().mean(-1).clamp(0., 1.)
            if self.weighting == 'chi':
                chi = sigma_chi
            elif self.weighting == 'constant':
                chi = torch.full_like(sigma_chi, self.chi_value)
            else:
                chi = None
            l_h1 = self.h1_weight * l_h1
            l_h2 = self.h2_weight * l_h2
            if chi is None:
                part_h1, part_h2 = l_h1, l_h2
                chi_report = sigma_chi
            else:
                part_h1, part_h2 = (1 - chi) * l_h1, chi * l_h2
                chi_report = chi
            scale = self.loss_weight / denom
            total_h1 = (w * part_h1).sum() * scale
            total_h2 = (w * part_h2).sum() * scale
            return dict(
                total=total_h1 + total_h2,
                total_h1=total_h1,
                total_h2=total_h2,
                h1=l_h1.detach().sum() / denom,
                h2=l_h2.detach().sum() / denom,
                chi=chi_report.sum() / denom,
                num_valid=num_valid)

    def forward(self, heatmaps: Union[Tensor,
                                      Sequence[Tensor]], gt_heatmaps: Tensor,
                mu: Tensor, sigma: Tensor, gt_labels: Tensor,
                keypoint_weights: Tensor, flow: nn.Module) -> Tensor:
        """The scalar loss; see :meth:`compute_terms` for the arguments.

        Returns:
            Tensor: The loss, a float32 scalar.
        """
        return self.compute_terms(heatmaps, gt_heatmaps, mu, sigma, gt_labels,
                                  keypoint_weights, flow)['total']


def _check_choice(name: str, value: str, choices: Tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f'ChiWeightedLoss: {name} must be one of {choices}, '
                         f'got {value!r}')
