"""A 2-D RealNVP flow with both directions (density and sampling)."""
import math
from typing import Tuple

import numpy as np
import torch
from mmpose.registry import MODELS
from torch import Tensor, nn


def _mlp(hidden_channels: int, final_tanh: bool) -> nn.Sequential:
    """The 2 -> hidden -> hidden -> 2 network of one coupling."""
    layers = [
        nn.Linear(2, hidden_channels),
        nn.LeakyReLU(),
        nn.Linear(hidden_channels, hidden_channels),
        nn.LeakyReLU(),
        nn.Linear(hidden_channels, 2),
    ]
    if final_tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


@MODELS.register_module()
class RealNVP2D(nn.Module):
    """A RealNVP normalising flow on 2-D points, with density and sampling.

    The architecture is RLE's flow (adapted from Li et al., "Human Pose
    Regression with Residual Log-likelihood Estimation", ICCV 2021): affine
    couplings with alternating masks ``[0, 1], [1, 0]``, scale nets
    ``2-64-64-2`` with LeakyReLU and a final Tanh, translation nets the same
    without the Tanh, and a standard normal prior ``N(0, I)``. Unlike
    :class:`mmpose.models.utils.RealNVP` it also has the generative
    direction :meth:`forward` (z -> x), which the SADI-Net loss needs to
    estimate the moments of the learned distribution.

    Every computation runs in float32 with autocast disabled: in float16 the
    affine couplings overflow for ``|x| >= 100`` and the log-density loses
    all precision.

    Note:
        - number of points: N (any leading shape ``*`` is accepted)
        - point dimension: 2

    Args:
        num_couplings (int): Number of affine couplings; the masks alternate
            ``[0, 1], [1, 0], ...``. Defaults to 6.
        hidden_channels (int): Width of the two hidden layers of every scale
            and translation net. Defaults to 64.
        init_gain (float): Gain of the Xavier-uniform initialisation of every
            linear weight (RLE's "small init"). Defaults to 0.01.
        identity_init (bool): Zero the last layer of every scale and
            translation net so the flow starts as the exact identity map.
            Defaults to False.
    """

    def __init__(self,
                 num_couplings: int = 6,
                 hidden_channels: int = 64,
                 init_gain: float = 0.01,
                 identity_init: bool = False) -> None:
        super().__init__()
        if num_couplings < 1:
            raise ValueError(
                f'RealNVP2D needs num_couplings >= 1, got {num_couplings}')
        masks = torch.tensor([[0., 1.], [1., 0.]]).repeat(
            (num_couplings + 1) // 2, 1)[:num_couplings]
        self.register_buffer('masks', masks)
        self.num_couplings = num_couplings
        self.init_gain = init_gain
        self.identity_init = identity_init
        self.scale_nets = nn.ModuleList(
            [_mlp(hidden_channels, True) for _ in range(num_couplings)])
        self.trans_nets = nn.ModuleList(
            [_mlp(hidden_channels, False) for _ in range(num_couplings)])
        self.init_weights()

    def init_weights(self) -> None:
        """Small Xavier init (RLE); optionally the exact identity map."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=self.init_gain)
        if self.identity_init:
            for net in list(self.scale_nets) + list(self.trans_nets):
                last = net[4]
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)

    def _compute_dtype(self) -> torch.dtype:
        """float32, or float64 for a flow converted with ``.double()``."""
        return torch.promote_types(torch.float32, self.masks.dtype)

    def _coupling(self, i: int, y: Tensor) -> Tuple[Tensor, Tensor]:
        """Scale ``s`` and shift ``t`` of coupling ``i`` (RLE's masked form).

        Args:
            i (int): Coupling index.
            y (Tensor): Points in shape (N, 2).

        Returns:
            tuple: ``s`` and ``t`` in shape (N, 2), zero where ``masks[i]``
            is 1 (the coordinate the coupling keeps).
        """
        mask = self.masks[i]
        kept = y * mask
        return (self.scale_nets[i](kept) * (1 - mask),
                self.trans_nets[i](kept) * (1 - mask))

    def forward(self, z: Tensor) -> Tuple[Tensor, Tensor]:
        """Generative direction: latent ``z`` -> data ``x``.

        Args:
            z (Tensor): Latent points in shape (*, 2).

        Returns:
            tuple:
            - x (Tensor): Data points in shape (*, 2), float32.
            - log_det (Tensor): ``log |det dx/dz|`` in shape (*).
        """
        with torch.autocast(device_type=z.device.type, enabled=False):
            lead = z.shape[:-1]
            x = z.to(self._compute_dtype()).reshape(-1, 2)
            log_det = x.new_zeros(x.shape[0])
            for i in range(self.num_couplings):
                s, t = self._coupling(i, x)
                x = x * torch.exp(s) + t
                log_det = log_det + s.sum(-1)
            return x.reshape(*lead, 2), log_det.reshape(lead)

    def inverse(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Density direction: data ``x`` -> latent ``z``.

        Args:
            x (Tensor): Data points in shape (*, 2).

        Returns:
            tuple:
            - z (Tensor): Latent points in shape (*, 2), float32.
            - log_det (Tensor): ``log |det dz/dx|`` in shape (*).
        """
        with torch.autocast(device_type=x.device.type, enabled=False):
            lead = x.shape[:-1]
            z = x.to(self._compute_dtype()).reshape(-1, 2)
            log_det = z.new_zeros(z.shape[0])
            for i in reversed(range(self.num_couplings)):
                s, t = self._coupling(i, z)
                z = (z - t) * torch.exp(-s)
                log_det = log_det - s.sum(-1)
            return z.reshape(*lead, 2), log_det.reshape(lead)

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density of the flow's distribution at ``x``.

        Args:
            x (Tensor): Points in shape (*, 2).

        Returns:
            Tensor: ``log G(x)`` in shape (*), float32.
        """
        with torch.autocast(device_type=x.device.type, enabled=False):
            z, log_det = self.inverse(x)
            log_prior = -0.5 * (z**2).sum(dim=-1) - math.log(2 * math.pi)
        return log_prior + log_det

    def sample(self, num_samples: int) -> Tensor:
        """Draw samples ``x = G(z)``, ``z ~ N(0, I)``.

        Args:
            num_samples (int): Number of samples N.

        Returns:
            Tensor: Samples in shape (N, 2).
        """
        z = torch.randn(num_samples, 2, device=self.masks.device)
        return self.forward(z)[0]

    def moments(self, num_nodes: int = 32) -> Tuple[Tensor, Tensor]:
        """Mean and per-axis std of the flow's distribution, differentiably.

        Uses a ``num_nodes x num_nodes`` Gauss-Hermite product rule in the
        latent space, pushed through :meth:`forward` (gradients flow into
        the flow's parameters).

        Args:
            num_nodes (int): Gauss-Hermite nodes per axis. Defaults to 32.

        Returns:
            tuple:
            - mean (Tensor): Mean of ``x`` in shape (2,).
            - std (Tensor): Standard deviation of each axis in shape (2,).
        """
        nodes, weights = gauss_hermite_2d(num_nodes, self.masks.device)
        with torch.autocast(device_type=nodes.device.type, enabled=False):
            x = self.forward(nodes)[0]
            mean = (weights[:, None] * x).sum(dim=0)
            var = (weights[:, None] * (x - mean)**2).sum(dim=0)
            std = var.clamp_min(1e-12).sqrt()
        return mean, std


_GH_CACHE = {}


def gauss_hermite_2d(num_nodes: int,
                     device: torch.device) -> Tuple[Tensor, Tensor]:
    """Product Gauss-Hermite rule for expectations under ``N(0, I_2)``.

    Args:
        num_nodes (int): Nodes per axis n.
        device (torch.device): Device of the returned tensors.

    Returns:
        tuple:
        - nodes (Tensor): Points in shape (n*n, 2), float32.
        - weights (Tensor): Weights in shape (n*n,), summing to 1.
    """
    key = (num_nodes, str(device))
    if key not in _GH_CACHE:
        # probabilists' Hermite rule: int f(z) exp(-z^2/2) dz
        z, w = np.polynomial.hermite_e.hermegauss(num_nodes)
        w = w / w.sum()
        zz = np.stack(np.meshgrid(z, z, indexing='ij'), -1).reshape(-1, 2)
        ww = np.outer(w, w).reshape(-1)
        _GH_CACHE[key] = (torch.tensor(zz, dtype=torch.float32, device=device),
                          torch.tensor(ww, dtype=torch.float32, device=device))
    return _GH_CACHE[key]
