"""SADI-Net heads (registered in ``MODELS``)."""
from .dlm_head import DLMHead
from .keypoint_error_head import KeypointErrorHead

__all__ = ['DLMHead', 'KeypointErrorHead']
