"""A heatmap branch as MMPose's ``HeatmapHead`` builds one."""
from typing import Optional, Sequence

from mmcv.cnn import build_conv_layer, build_upsample_layer
from torch import nn

OptIntSeq = Optional[Sequence[int]]


def build_heatmap_branch(in_channels: int,
                         out_channels: int,
                         deconv_out_channels: OptIntSeq = None,
                         deconv_kernel_sizes: OptIntSeq = None,
                         conv_out_channels: OptIntSeq = None,
                         conv_kernel_sizes: OptIntSeq = None,
                         final_layer: dict = dict(kernel_size=1),
                         owner: str = 'heatmap branch') -> nn.Sequential:
    """Deconvs (x2 each, BN, ReLU) -> convs (BN, ReLU) -> a final conv to
    ``out_channels``.

    Args:
        in_channels (int): Channels of the input feature.
        out_channels (int): Channels of the heatmap (keypoints K).
        deconv_out_channels (Sequence[int], optional): Output channels of
            the deconv layers. Defaults to None (none).
        deconv_kernel_sizes (Sequence[int], optional): Their kernel sizes
            (4, 3 or 2). Defaults to None.
        conv_out_channels (Sequence[int], optional): Output channels of the
            conv layers after the deconvs. Defaults to None (none).
        conv_kernel_sizes (Sequence[int], optional): Their kernel sizes.
            Defaults to None.
        final_layer (dict): Extra arguments of the final conv.
            Defaults to ``dict(kernel_size=1)``.
        owner (str): The name errors start with. Defaults to
            ``'heatmap branch'``.

    Returns:
        nn.Sequential: The branch, (B, in_channels, h, w) -> (B, K, H, W).
    """
    for name_a, a, name_b, b in (('deconv_out_channels', deconv_out_channels,
                                  'deconv_kernel_sizes', deconv_kernel_sizes),
                                 ('conv_out_channels', conv_out_channels,
                                  'conv_kernel_sizes', conv_kernel_sizes)):
        if a and (b is None or len(a) != len(b)):
            raise ValueError(f'{owner}: {name_a}={a} and {name_b}={b} must be '
                             'sequences of the same length')
    layers = []
    channels = in_channels
    padding_of = {4: (1, 0), 3: (1, 1), 2: (0, 0)}
    for out_ch, ks in zip(deconv_out_channels or (), deconv_kernel_sizes
                          or ()):
        if ks not in padding_of:
            raise ValueError(f'{owner}: deconv kernel sizes must be 2, 3 or '
                             f'4, got {ks}')
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
    for out_ch, ks in zip(conv_out_channels or (), conv_kernel_sizes or ()):
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
        out_channels=out_channels,
        kernel_size=1)
    cfg.update(final_layer)
    layers.append(build_conv_layer(cfg))
    return nn.Sequential(*layers)
