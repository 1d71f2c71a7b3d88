"""SADI-Net losses (registered in ``MODELS``)."""
from .chi_weighted_loss import ChiWeightedLoss

__all__ = ['ChiWeightedLoss']
