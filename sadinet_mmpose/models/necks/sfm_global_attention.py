"""The global attention fusion of the SFM (SADI-Net, Sec. III-C, Fig. 4)."""
import copy
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor


class SFMGlobalAttention(BaseModule):
    """Fuse L feature maps with per-pixel softmax weights over the scales.

    For each input F_n: a 1x1 conv (+norm+ReLU) to ``global_channels`` and
    bilinear up-sampling to F_1's resolution give G_n; a 1x1 conv of G_n to
    one channel gives the score U_n; ``W = softmax(U_1..U_L)`` over n at each
    pixel (Eq. 2-3, so sum_n W_n = 1). ``W_n * G_n`` is resized back to F_n's
    resolution (area interpolation) and projected by a 1x1 conv (+norm) to
    F_n's channels; with ``residual=True`` F_n is added back.

    The paper applies the 1x1 conv before resizing back; both are linear, so
    resizing first gives the same map up to the norm's batch statistics and
    saves computing the projection at F_1's resolution. Likewise the score
    conv runs on G_n before up-sampling (the same U_n: bilinear weights sum
    to 1). Resizing is ``F.interpolate`` (bilinear up, area down).

    Args:
        in_channels (Sequence[int]): Channels of F_1..F_L.
        global_channels (int): Channels of G_n. Defaults to 256.
        residual (bool): Add F_n to its fused output (the paper is silent;
            makes the module an identity-plus-correction). Defaults to True.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.

    Note:
        - B: batch size
        - L: number of scales, ``len(in_channels)``
        - C_n, H_n, W_n: channels and size of F_n (H_1, W_1 the largest)
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 global_channels: int = 256,
                 residual: bool = True,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        norm_cfg = copy.deepcopy(norm_cfg)
        self.in_channels = tuple(in_channels)
        self.global_channels = global_channels
        self.residual = residual
        self.reduce_convs = nn.ModuleList([
            ConvModule(channels, global_channels, 1, norm_cfg=norm_cfg)
            for channels in self.in_channels
        ])
        self.score_convs = nn.ModuleList([
            nn.Conv2d(global_channels, 1, kernel_size=1)
            for _ in self.in_channels
        ])
        self.out_convs = nn.ModuleList([
            ConvModule(
                global_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
            for channels in self.in_channels
        ])

    def forward(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], Tensor]:
        """Forward.

        Args:
            feats (Sequence[Tensor]): F_1..F_L, F_n of shape (B, C_n, H_n,
                W_n).

        Returns:
            tuple:
            - fused (list[Tensor]): L maps, the n-th of shape
              (B, C_n, H_n, W_n).
            - weights (Tensor): W of shape (B, L, H_1, W_1), summing to 1
              over dim 1.
        """
        # Python ints: a traced (ONNX) graph keeps them as constants
        size = tuple(int(v) for v in feats[0].shape[-2:])
        globals_, scores = [], []
        for feat, reduce, score in zip(feats, self.reduce_convs,
                                       self.score_convs):
            g = reduce(feat)
            globals_.append(g)
            # U_n = score(up(g)) = up(score(g)): a 1x1 conv commutes with
            # bilinear resizing (its weights sum to 1), so only one channel
            # is resized to F_1's size here
            scores.append(_up(score(g), size))
        weights = torch.cat(scores, dim=1).softmax(dim=1)
        fused = []
        for n, (feat, g,
                out_conv) in enumerate(zip(feats, globals_, self.out_convs)):
            if tuple(g.shape[-2:]) != size:
                weighted = F.interpolate(
                    weights[:, n:n + 1] * _up(g, size),
                    size=tuple(int(v) for v in feat.shape[-2:]),
                    mode='area')
            else:
                weighted = weights[:, n:n + 1] * g
            out = out_conv(weighted)
            fused.append(out + feat if self.residual else out)
        return fused, weights


def _up(x: Tensor, size) -> Tensor:
    """Bilinear resizing to ``size`` (``align_corners=False``)."""
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)
