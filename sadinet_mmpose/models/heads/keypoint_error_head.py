"""A small head that predicts the error scale of the keypoint H1 returns."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class KeypointErrorHead(nn.Module):
    """Per-axis error scales of the keypoints decoded from H1.

    An MLP on local features at each joint's H1 maximum: the spatial
    feature map (the one the last H1 branch reads) at that cell, the
    ``(2 patch + 1)^2`` H1 values around it over the maximum and their logs,
    the maximum, the logs of ``sigma_hat`` in heatmap pixels, the offset of
    the cell from ``mu_hat`` in ``sigma_hat`` units and the joint's one-hot.
    It outputs Laplace scales of the keypoint's error per axis.

    It is fitted after the pose training on the training split, with the
    pose model frozen (``tools/fit_error_head.py``, :meth:`fit`), so the
    pose training is unchanged. Its parameters do not require gradients
    outside :meth:`fit` (the runner's optimiser and DDP skip them). Until
    fitted (the ``fitted`` buffer is 0) the DLM head reports ``sigma_hat``.
    A checkpoint without its weights loads it unfitted.

    Note:
        B: batch size, K: keypoints, [W, H]: heatmap size, C: channels of
        the spatial feature, D: features per joint.

    Args:
        num_keypoints (int): K.
        in_channels (int): C.
        patch (int): Half side of the H1 patch. Defaults to 2.
        hidden (int): Width of the two hidden layers. Defaults to 64.
    """

    def __init__(self,
                 num_keypoints: int,
                 in_channels: int,
                 patch: int = 2,
                 hidden: int = 64) -> None:
        super().__init__()
        self.num_keypoints = num_keypoints
        self.in_channels = in_channels
        self.patch = patch
        self.hidden = hidden
        dim = in_channels + 2 * (2 * patch + 1)**2 + 5 + num_keypoints
        # drawn without moving the global RNG: a model with an (unfitted)
        # error head initialises and trains as one without
        with torch.random.fork_rng(devices=[]):
            self.mlp = nn.Sequential(
                nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                nn.ReLU(), nn.Linear(hidden, 2))
        self.register_buffer('feat_mean', torch.zeros(dim))
        self.register_buffer('feat_std', torch.ones(dim))
        self.register_buffer('fitted', torch.zeros(1))
        self.requires_grad_(False)
        self._register_load_state_dict_pre_hook(self._fill_if_absent)

    @property
    def is_fitted(self) -> bool:
        """Whether the weights hold a fit."""
        return bool(self.fitted[0] > 0)

    def features(self, spatial: Tensor, h1: Tensor, mu: Tensor,
                 sigma: Tensor) -> Tensor:
        """The input of the MLP for one forward pass.

        Args:
            spatial (Tensor): The spatial feature (B, C, h, w).
            h1 (Tensor): H1 (B, K, H, W).
            mu (Tensor): ``mu_hat`` (B, K, 2), fractions of the side.
            sigma (Tensor): ``sigma_hat`` (B, K, 2), fractions of the side.

        Returns:
            Tensor: (B, K, D) float32.
        """
        B, K, H, W = h1.shape
        h, w = spatial.shape[-2:]
        p = self.patch
        h1 = h1.float()
        idx = h1.reshape(B, K, -1).argmax(-1)  # (B, K)
        y, x = torch.div(idx, W, rounding_mode='floor'), idx % W
        # the spatial feature's cell under the H1 cell
        fy = torch.div(y * h, H, rounding_mode='floor')
        fx = torch.div(x * w, W, rounding_mode='floor')
        cell = (fy * w + fx)[:, None, :].expand(-1, spatial.shape[1], -1)
        vec = spatial.float().reshape(B, spatial.shape[1],
                                      -1).gather(2,
                                                 cell).permute(0, 2,
                                                               1)  # (B, K, C)
        padded = F.pad(h1, (p, p, p, p), mode='replicate')
        r = torch.arange(-p, p + 1, device=h1.device)
        offsets = ((r[:, None] + p) * (W + 2 * p) +
                   (r[None, :] + p)).reshape(-1)
        at = (y * (W + 2 * p) + x)[..., None] + offsets  # (B, K, P)
        patch = padded.reshape(B, K, -1).gather(2, at)
        peak = h1.reshape(B, K, -1).gather(2, idx[..., None])  # (B, K, 1)
        rel = patch / peak.clamp(min=1e-6)
        side = sigma.new_tensor([W, H]).float()
        sig = sigma.float().clamp(min=1e-6)
        cell_xy = (torch.stack([x, y], -1).float() + 0.5) / side
        onehot = torch.eye(K, device=h1.device)[None].expand(B, -1, -1)
        return torch.cat([
            vec, rel,
            rel.clamp(min=1e-4).log(), peak, (sig * side).log(),
            (cell_xy - mu.float()) / sig, onehot
        ], -1)

    def forward(self, spatial: Tensor, h1: Tensor, mu: Tensor,
                sigma: Tensor) -> Tensor:
        """Error scales of one forward pass.

        Args: as :meth:`features`.

        Returns:
            Tensor: (B, K, 2) Laplace scales per axis, in fractions of the
            crop side (as ``sigma_hat``).
        """
        z = (self.features(spatial, h1, mu, sigma) - self.feat_mean) / \
            self.feat_std
        H, W = h1.shape[-2:]
        return self.mlp(z).exp() / z.new_tensor([W, H])

    @torch.enable_grad()
    def fit(self,
            features: Tensor,
            errors: Tensor,
            visible: Tensor,
            heatmap_size,
            epochs: int = 40,
            batch_size: int = 512,
            lr: float = 1e-3,
            seed: int = 0,
            generator: Optional[torch.Generator] = None) -> float:
        """Fit the MLP to keypoint errors (Laplace negative log-likelihood).

        Args:
            features (Tensor): :meth:`features` of the training split
                (N, K, D).
            errors (Tensor): The returned keypoints' errors (N, K, 2) in
                fractions of the crop side.
            visible (Tensor): (N, K) bool, the joints to fit on.
            heatmap_size (tuple): ``(W, H)``.
            epochs (int): Passes over the joints. Defaults to 40.
            batch_size (int): Joints per step. Defaults to 512.
            lr (float): Adam's learning rate. Defaults to 1e-3.
            seed (int): Seed of the initialisation and the order.

        Returns:
            float: The mean negative log-likelihood of the last epoch.
        """
        vis = visible.bool()
        if int(vis.sum()) < 2:
            raise ValueError('KeypointErrorHead.fit needs visible joints, got '
                             f'{int(vis.sum())}')
        x = features[vis].float()
        side = x.new_tensor([float(v) for v in heatmap_size])
        e = (errors[vis].float() * side).abs()  # heatmap pixels
        gen = generator or torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for m in self.mlp:
                if isinstance(m, nn.Linear):
                    m.reset_parameters()
        self.feat_mean.copy_(x.mean(0))
        self.feat_std.copy_(x.std(0) + 1e-6)
        z = (x - self.feat_mean) / self.feat_std
        self.mlp.requires_grad_(True)
        opt = torch.optim.Adam(self.mlp.parameters(), lr=lr, weight_decay=1e-4)
        last = float('nan')
        for _ in range(epochs):
            total, n = 0., 0
            for idx in torch.randperm(len(z), generator=gen).split(batch_size):
                log_b = self.mlp(z[idx])
                loss = (log_b + e[idx] * torch.exp(-log_b)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
                n += len(idx)
            last = total / n
        self.mlp.requires_grad_(False)
        self.fitted.fill_(1.)
        return last

    def _fill_if_absent(self, state_dict, prefix, *args) -> None:
        # a checkpoint saved without an error head: load it unfitted
        if not any(k.startswith(prefix) for k in state_dict):
            fresh = KeypointErrorHead(self.num_keypoints, self.in_channels,
                                      self.patch, self.hidden).state_dict()
            state_dict.update({prefix + k: v for k, v in fresh.items()})
