"""Building blocks of the SADI-Net models (registered in ``MODELS``)."""
from .realnvp2d import RealNVP2D, gauss_hermite_2d

__all__ = ['RealNVP2D', 'gauss_hermite_2d']
