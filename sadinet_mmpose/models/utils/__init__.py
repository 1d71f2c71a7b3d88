"""Building blocks of the SADI-Net models (registered in ``MODELS``)."""
from .cuda_graph import CUDAGraphCache
from .realnvp2d import RealNVP2D, gauss_hermite_2d
from .resample import bilinear_matrix, resize_area, resize_bilinear

__all__ = [
    'CUDAGraphCache', 'RealNVP2D', 'gauss_hermite_2d', 'bilinear_matrix',
    'resize_area', 'resize_bilinear'
]
