"""SADI-Net heads (registered in ``MODELS``)."""
from .dlm_head import DLMHead

__all__ = ['DLMHead']
