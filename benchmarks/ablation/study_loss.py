"""The study's forms of SADI-Net's loss, beside the shipped one.

Imported by the study's configs (``custom_imports``) with the repository
root on ``PYTHONPATH``, as ``benchmarks.ablation.study_loss``.
"""
from typing import Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

from sadinet_mmpose.models.losses.chi_weighted_loss import (ChiWeightedLoss,
                                                            check_choice)


@MODELS.register_module()
class StudyChiWeightedLoss(ChiWeightedLoss):
    """:class:`ChiWeightedLoss` with the forms only the study runs.

    - ``weighting='constant'``: ``chi = chi_value`` for every joint (the
      control of the chi weighting; ``chi_value=0`` trains on ``L_H1``
      alone, the flow then gets no gradient).
    - ``h1_reduction='mean'``: ``L_H1`` averaged over a joint's ``H * W``
      pixels, the paper's literal form (the shipped loss sums).
    - ``h2_loss='mse'``: the paper's naming of both terms as MSE (III-E,
      Table V): H2 is rendered *with gradients* through the flow on a
      ``mse_window`` x ``mse_window`` window of heatmap pixels around each
      ground-truth joint (normalised to 1 at its centre, as
      ``DLMHead.render_h2``) and compared in two terms
      (:meth:`window_h2_mse`).

    Args:
        weighting (str): ``'chi'``, ``'sum'`` or ``'constant'``.
            Defaults to ``'chi'``.
        chi_value (float): chi of ``weighting='constant'``, in [0, 1].
            Defaults to 0.5.
        h1_reduction (str): ``'sum'`` or ``'mean'`` over the pixels.
            Defaults to ``'sum'``.
        h2_loss (str): ``'nll'`` (``-log P(gt)``) or ``'mse'``.
            Defaults to ``'nll'``.
        mse_window (int): Odd side of the window of ``h2_loss='mse'``, in
            heatmap pixels. Defaults to 9.
        **kwargs: The other options of :class:`ChiWeightedLoss`.
    """
    WEIGHTINGS = ('chi', 'sum', 'constant')

    def __init__(self,
                 weighting: str = 'chi',
                 chi_value: float = 0.5,
                 h1_reduction: str = 'sum',
                 h2_loss: str = 'nll',
                 mse_window: int = 9,
                 **kwargs) -> None:
        super().__init__(weighting=weighting, **kwargs)
        check_choice(self, 'h1_reduction', h1_reduction, ('mean', 'sum'))
        check_choice(self, 'h2_loss', h2_loss, ('nll', 'mse'))
        if mse_window < 1 or mse_window % 2 == 0:
            raise ValueError('StudyChiWeightedLoss: mse_window must be an '
                             f'odd integer >= 1, got {mse_window}')
        if not 0. <= chi_value <= 1.:
            raise ValueError('StudyChiWeightedLoss: chi_value must be in '
                             f'[0, 1], got {chi_value}')
        self.chi_value = chi_value
        self.h1_reduction = h1_reduction
        self.h2_loss = h2_loss
        self.mse_window = int(mse_window)

    def h1_per_joint(self, h1: Tensor, target: Tensor) -> Tensor:
        err = ((h1 - target)**2).flatten(1)
        return err.mean(-1) if self.h1_reduction == 'mean' else err.sum(-1)

    def h2_per_joint(self, target: Tensor, gt: Tensor, mu: Tensor,
                     sigma: Tensor, flow: nn.Module) -> Tensor:
        if self.h2_loss == 'mse':
            return self.window_h2_mse(target, gt, mu, sigma, flow)
        return super().h2_per_joint(target, gt, mu, sigma, flow)

    def chi_of(self, sigma_chi: Tensor) -> Optional[Tensor]:
        if self.weighting == 'constant':
            return torch.full_like(sigma_chi, self.chi_value)
        return super().chi_of(sigma_chi)

    def window_h2_mse(self, target: Tensor, gt: Tensor, mu: Tensor,
                      sigma: Tensor, flow: nn.Module) -> Tensor:
        """MSE of H2 on a window per joint: its location and its shape.

        Comparing H2 at ``mu_hat`` with the codec's Gaussian target directly
        would pull ``mu_hat`` off the truth whenever H2's width differs from
        the target's (a wide H2 lowers its error by moving part of its mass
        out of the window). The loss is therefore split in two terms on the
        window's pixels:

        - location: H2 at ``mu_hat`` against H2 at the ground truth, both
          with ``sigma_hat`` detached (the latter the target): 0 at
          ``mu_hat = gt`` whatever sigma, the flow or the window.
        - shape: H2 at the ground truth (gradients into ``sigma_hat`` and
          the flow) against the codec's target.

        Only ``2 * M * N**2`` points go through the flow, never
        ``M * H * W``.

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
            the window pixels inside the heatmap, (M,), float32.
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
