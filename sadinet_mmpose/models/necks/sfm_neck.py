"""The Spatial Fusion Module neck (SADI-Net, Sec. III-C)."""
import copy
from typing import List, Optional, Sequence, Tuple

from mmengine.model import BaseModule
from mmpose.registry import MODELS
from torch import Tensor

from .sfm_classification_head import SFMClassificationHead
from .sfm_global_attention import SFMGlobalAttention


@MODELS.register_module()
class SFMNeck(BaseModule):
    """Global attention fusion + local attention classification head.

    Takes the multi-scale features F_1..F_L at ``in_indices`` of the input
    tuple, fuses them with :class:`SFMGlobalAttention`, reduces the fused
    maps to one vector f with :class:`SFMClassificationHead`, and returns
    the features at ``keep_indices`` untouched followed by f.

    Args:
        in_channels (Sequence[int]): Channels of F_1..F_L, highest resolution
            first. Defaults to ``(64, 128, 256, 512)`` (RFMHourglass).
        in_indices (Sequence[int]): Positions of F_1..F_L in the input tuple
            (negative values count from the end). Defaults to
            ``(0, 1, 2, 3)``.
        keep_indices (Sequence[int], optional): Positions of the inputs
            passed through to the output; None keeps every position not in
            ``in_indices`` (the stack features of RFMHourglass). Defaults to
            None.
        global_channels (int): Channels of the global attention's G_n.
            Defaults to 256.
        cls_channels (Sequence[int]): Channels the classification head raises
            each branch to. Defaults to ``(128, 256, 512, 1024)``.
        out_channels (int): Size of f. Defaults to 2048.
        residual (bool): Add F_n back after the global attention. Defaults
            to True.
        local_softmax_dim (str, optional): Axis of the local attention's
            softmax: ``'height'`` (the paper's "along the columns") or
            ``'width'``; None disables it. Defaults to ``'height'``.
        num_cls_blocks (int): Bottleneck blocks per branch in the
            classification head. Defaults to 1.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.

    Note:
        - B: batch size
        - L: number of fused scales, ``len(in_channels)``
        - C_n, H_n, W_n: channels and size of F_n; each scale halves the
          previous resolution (H_{n+1} = ceil(H_n / 2))

    Example:
        >>> import torch
        >>> from mmpose.registry import MODELS
        >>> import sadinet_mmpose  # noqa: registers SFMNeck
        >>> neck = MODELS.build(dict(type='SFMNeck',
        ...     in_channels=(32, 64, 128, 256), keep_indices=(0, ))).eval()
        >>> feats = [torch.rand(1, 32 * 2**n, 64 // 2**n, 64 // 2**n)
        ...          for n in range(4)]
        >>> [tuple(t.shape) for t in neck(feats)]
        [(1, 32, 64, 64), (1, 2048)]
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 128, 256, 512),
                 in_indices: Sequence[int] = (0, 1, 2, 3),
                 keep_indices: Optional[Sequence[int]] = None,
                 global_channels: int = 256,
                 cls_channels: Sequence[int] = (128, 256, 512, 1024),
                 out_channels: int = 2048,
                 residual: bool = True,
                 local_softmax_dim: Optional[str] = 'height',
                 num_cls_blocks: int = 1,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        norm_cfg = copy.deepcopy(norm_cfg)
        if len(in_indices) != len(in_channels):
            raise ValueError(
                f'SFMNeck: in_indices={tuple(in_indices)} and '
                f'in_channels={tuple(in_channels)} differ in length')
        if len(in_channels) < 2:
            raise ValueError('SFMNeck: needs at least two scales, got '
                             f'in_channels={tuple(in_channels)}')
        self.in_channels = tuple(in_channels)
        self.in_indices = tuple(in_indices)
        self.keep_indices = (
            tuple(keep_indices) if keep_indices is not None else None)
        self.out_channels = out_channels
        self.global_attention = SFMGlobalAttention(
            self.in_channels,
            global_channels=global_channels,
            residual=residual,
            norm_cfg=norm_cfg)
        self.cls_head = SFMClassificationHead(
            self.in_channels,
            cls_channels=cls_channels,
            out_channels=out_channels,
            num_blocks=num_cls_blocks,
            local_softmax_dim=local_softmax_dim,
            norm_cfg=norm_cfg)

    def _select(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List]:
        """Check the input and pick the fused and the kept features.

        Args:
            feats (Sequence[Tensor]): The neck's input.

        Returns:
            tuple: F_1..F_L (list[Tensor]) and the kept features (list).
        """
        if not isinstance(feats, (list, tuple)):
            raise ValueError('SFMNeck: expects a tuple of feature maps, got '
                             f'{type(feats).__name__}')
        num = len(feats)
        for name, indices in (('in_indices', self.in_indices),
                              ('keep_indices', self.keep_indices or ())):
            bad = [i for i in indices if not -num <= i < num]
            if bad:
                raise ValueError(f'SFMNeck: {name}={indices} out of range '
                                 f'for {num} input features')
        in_positions = [i % num for i in self.in_indices]
        multiscale = [feats[i] for i in in_positions]
        for n, (feat,
                channels) in enumerate(zip(multiscale, self.in_channels)):
            if feat.dim() != 4 or feat.shape[1] != channels:
                raise ValueError(
                    f'SFMNeck: in_channels[{n}]={channels} but the input '
                    f'feature at index {self.in_indices[n]} has shape '
                    f'{tuple(feat.shape)} ({feat.shape[1]} channels)')
        if self.keep_indices is None:
            kept = [f for i, f in enumerate(feats) if i not in in_positions]
        else:
            kept = [feats[i] for i in self.keep_indices]
        return multiscale, kept

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Forward.

        Args:
            feats (Sequence[Tensor]): Input features; F_n at
                ``in_indices[n - 1]`` of shape (B, C_n, H_n, W_n).

        Returns:
            tuple[Tensor]: ``(*kept, f)``: the inputs at ``keep_indices``
            unchanged, then f of shape (B, out_channels).
        """
        multiscale, kept = self._select(feats)
        fused, _ = self.global_attention(multiscale)
        return tuple(kept) + (self.cls_head(fused), )
