"""Building blocks of the SADI-Net models (registered in ``MODELS``)."""
from .grad_balance import gradient_balance
from .heatmap_branch import build_heatmap_branch
from .realnvp2d import RealNVP2D, gauss_hermite_2d

__all__ = [
    'RealNVP2D', 'build_heatmap_branch', 'gauss_hermite_2d', 'gradient_balance'
]
