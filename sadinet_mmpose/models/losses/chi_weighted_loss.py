"""The chi-weighted SADI-Net loss (paper III-E, Eq. 4-8)."""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

_LOG_2PI = math.log(2 * math.pi)
_LOG_2 = math.log(2.)


@MODELS.register_module()
class ChiWeightedLoss(nn.Module):
    """SADI-Net's loss: ``L = (1 - chi) * L_H1 + chi * L_H2`` per joint.

    - ``L_H1``: the squared error of H1 against the codec's Gaussian
      target, summed over a joint's ``H * W`` pixels (docs/ablation.md) and
      over the stages when several H1 are given.
    - ``L_H2 = -log P(gt)``: the negative log-likelihood of the ground truth
      under the learnable distribution (Eq. 4/7). With
      ``xb = (gt - mu_hat) / sigma_hat``, ``P(xb) = 1/2 [Q(xb) + I(xb)]``,
      ``Q`` the standard 2-D Gaussian and ``I`` the flow's distribution
      ``G`` standardised to zero mean and unit std (Eq. 5):
      ``I(xb) = s_x s_y G(m + s * xb)``, ``m, s`` the flow's moments from a
      Gauss-Hermite rule (differentiable). The change of variables
      ``x = mu_hat + sigma_hat * xb`` adds ``log sigma_x + log sigma_y``.
      Only the B*K ground-truth points go through the flow.
    - ``chi = sigma_hat`` per joint (mean over x, y), detached.

    The mean runs over the M valid joints (weight > 0), selected before
    any arithmetic; everything runs in float32 with autocast disabled.

    Args:
        weighting (str): ``'chi'`` (``chi = sigma_hat``, the paper's
            default) or ``'sum'`` (``L_H1 + L_H2``, Table V's unweighted
            ablation). Defaults to ``'chi'``.
        num_gh_nodes (int): Gauss-Hermite nodes per axis for the flow's
            moments. Defaults to 32.
        h1_weight, h2_weight, loss_weight (float): Factors on ``L_H1``,
            ``L_H2`` and the total. Defaults to 1.0.
        sigma_floor (float): Lower bound of ``sigma_hat`` inside the loss.
            Defaults to 1e-4.
        max_offset (float): ``|gt - mu_hat|`` is clamped to this (in units
            of the heatmap side; the gradient passes straight through) so
            the log terms stay finite. Defaults to 1e3.
        flow_radius (float): The flow is evaluated only for
            ``|xb| <= flow_radius``; beyond it ``log I`` is capped at
            ``log Q`` so the Gaussian term keeps pulling mu back.
            Defaults to 1e3.
    """
    #: The accepted ``weighting`` values (a subclass may add its own).
    WEIGHTINGS = ('chi', 'sum')

    def __init__(self,
                 weighting: str = 'chi',
                 num_gh_nodes: int = 32,
                 h1_weight: float = 1.0,
                 h2_weight: float = 1.0,
                 loss_weight: float = 1.0,
                 sigma_floor: float = 1e-4,
                 max_offset: float = 1e3,
                 flow_radius: float = 1e3) -> None:
        super().__init__()
        check_choice(self, 'weighting', weighting, self.WEIGHTINGS)
        if num_gh_nodes < 2:
            raise ValueError(f'{type(self).__name__}: num_gh_nodes must be '
                             f'>= 2, got {num_gh_nodes}')
        self.weighting = weighting
        self.num_gh_nodes = num_gh_nodes
        self.h1_weight = h1_weight
        self.h2_weight = h2_weight
        self.loss_weight = loss_weight
        self.sigma_floor = sigma_floor
        self.max_offset = max_offset
        self.flow_radius = flow_radius

    def flow_moments(self, flow: nn.Module) -> Tuple[Tensor, Tensor]:
        """Mean ``m`` (2,) and std ``s`` (2,) of the flow's distribution."""
        return flow.moments(self.num_gh_nodes)

    def log_prob_standard(self,
                          xb: Tensor,
                          flow: nn.Module,
                          moments: Optional[Tuple[Tensor,
                                                  Tensor]] = None) -> Tensor:
        """``log P(xb)`` (*,) float32 at normalised points ``xb`` (*, 2),
        ``xb = (x - mu) / sigma``; ``moments`` as :meth:`flow_moments`
        gives them (computed when None)."""
        with torch.autocast(device_type=xb.device.type, enabled=False):
            xb = xb.float()
            m, s = self.flow_moments(flow) if moments is None else moments
            log_q = -0.5 * (xb**2).sum(-1) - _LOG_2PI
            far = (xb.abs() > self.flow_radius).any(-1)
            xb_in = xb.clamp(-self.flow_radius, self.flow_radius)
            log_i = flow.log_prob(m + s * xb_in) + s.log().sum()
            log_i = torch.where(far, torch.minimum(log_i, log_q), log_i)
            return torch.logaddexp(log_q, log_i) - _LOG_2

    def log_prob(self,
                 x: Tensor,
                 mu: Tensor,
                 sigma: Tensor,
                 flow: nn.Module,
                 moments: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        """``log P(x | mu, sigma)`` (*,) float32 at points ``x`` (*, 2).

        ``mu`` and ``sigma`` broadcast to (*, 2); units are fractions of the
        heatmap side and the density is per unit area of them. The head
        renders H2 with this same function, so the trained and the rendered
        densities are one.
        """
        with torch.autocast(device_type=x.device.type, enabled=False):
            sigma = sigma.float().clamp_min(self.sigma_floor)
            offset = x.float() - mu.float()
            # straight-through clamp: bounded value, gradient kept so a mu
            # far outside the crop is still pulled back
            offset = offset + (offset.clamp(-self.max_offset, self.max_offset)
                               - offset).detach()
            return (self.log_prob_standard(offset / sigma, flow, moments) -
                    sigma.log().sum(-1))

    def h1_per_joint(self, h1: Tensor, target: Tensor) -> Tensor:
        """``L_H1`` of one stage: (M, H, W) against (M, H, W) -> (M,)."""
        return ((h1 - target)**2).flatten(1).sum(-1)

    def h2_per_joint(self, target: Tensor, gt: Tensor, mu: Tensor,
                     sigma: Tensor, flow: nn.Module) -> Tensor:
        """``L_H2 = -log P(gt)`` of the M valid joints: (M,)."""
        return -self.log_prob(gt, mu, sigma, flow)

    def chi_of(self, sigma_chi: Tensor) -> Optional[Tensor]:
        """The weight chi (M,) from ``sigma_hat`` (M,) (None: unweighted)."""
        return sigma_chi if self.weighting == 'chi' else None

    def compute_terms(self, heatmaps: Union[Tensor, Sequence[Tensor]],
                      gt_heatmaps: Tensor, mu: Tensor, sigma: Tensor,
                      gt_labels: Tensor, keypoint_weights: Tensor,
                      flow: nn.Module) -> Dict[str, Tensor]:
        """The loss and its parts.

        Args:
            heatmaps (Tensor | Sequence[Tensor]): H1 (B, K, H, W), or one
                such tensor per stage.
            gt_heatmaps (Tensor): Gaussian targets (B, K, H, W).
            mu (Tensor): ``mu_hat`` (B, K, 2), in [0, 1] of the heatmap side.
            sigma (Tensor): ``sigma_hat`` (B, K, 2).
            gt_labels (Tensor): Ground truth (B, K, 2), same units.
            keypoint_weights (Tensor): (B, K); joints with weight <= 0 are
                ignored (their values may be non-finite).
            flow (nn.Module): The flow.

        Returns:
            dict: ``total`` (the scalar loss), its parts ``total_h1`` and
            ``total_h2`` (with gradients), the means over valid joints
            ``h1``, ``h2`` and ``chi`` (``sigma_hat`` when unweighted), and
            ``num_valid`` (M).
        """
        if isinstance(heatmaps, Tensor):
            heatmaps = [heatmaps]
        B, K = mu.shape[:2]
        for i, hm in enumerate(heatmaps):
            if hm.shape != gt_heatmaps.shape:
                raise ValueError(
                    f'{type(self).__name__}: H1 of stage {i} has shape '
                    f'{tuple(hm.shape)} but the target heatmaps have shape '
                    f'{tuple(gt_heatmaps.shape)} (check the codec\'s '
                    'heatmap_size against the head\'s output size)')
        weights = keypoint_weights.reshape(B, K)
        with torch.autocast(device_type=mu.device.type, enabled=False):
            valid = weights > 0
            w = weights[valid].float()  # (M,)
            num_valid = valid.sum()
            denom = num_valid.clamp_min(1).float()
            target = gt_heatmaps[valid].float()  # (M, H, W)
            l_h1 = self.h1_weight * sum(
                self.h1_per_joint(hm[valid].float(), target)
                for hm in heatmaps)
            sigma_v = sigma[valid].float()
            l_h2 = self.h2_weight * self.h2_per_joint(
                target, gt_labels[valid].float(), mu[valid].float(), sigma_v,
                flow)
            sigma_chi = sigma_v.detach().mean(-1).clamp(0., 1.)
            chi = self.chi_of(sigma_chi)
            if chi is None:
                part_h1, part_h2, chi = l_h1, l_h2, sigma_chi
            else:
                part_h1, part_h2 = (1 - chi) * l_h1, chi * l_h2
            scale = self.loss_weight / denom
            total_h1 = (w * part_h1).sum() * scale
            total_h2 = (w * part_h2).sum() * scale
            return dict(
                total=total_h1 + total_h2,
                total_h1=total_h1,
                total_h2=total_h2,
                h1=l_h1.detach().sum() / denom,
                h2=l_h2.detach().sum() / denom,
                chi=chi.sum() / denom,
                num_valid=num_valid)

    def forward(self, heatmaps: Union[Tensor,
                                      Sequence[Tensor]], gt_heatmaps: Tensor,
                mu: Tensor, sigma: Tensor, gt_labels: Tensor,
                keypoint_weights: Tensor, flow: nn.Module) -> Tensor:
        """The float32 scalar loss; arguments as :meth:`compute_terms`."""
        return self.compute_terms(heatmaps, gt_heatmaps, mu, sigma, gt_labels,
                                  keypoint_weights, flow)['total']


def check_choice(owner: object, name: str, value: str,
                 choices: Tuple[str, ...]) -> None:
    """Raise a ValueError naming the class, the option and its choices."""
    if value not in choices:
        raise ValueError(f'{type(owner).__name__}: {name} must be one of '
                         f'{choices}, got {value!r}')
