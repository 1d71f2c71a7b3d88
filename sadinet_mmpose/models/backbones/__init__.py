"""Backbones: the RFM hourglass and its dilated residual block."""
from .dilated_hrnet import DilatedHRNet
from .dilated_residual_block import DilatedResidualBlock
from .rfm_hourglass import RFMHourglass
from .se_block import SEBlock

__all__ = ['DilatedHRNet', 'DilatedResidualBlock', 'RFMHourglass', 'SEBlock']
