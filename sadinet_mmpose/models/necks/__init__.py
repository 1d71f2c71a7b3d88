"""Necks: the Spatial Fusion Module and its two attention parts."""
from .sfm_classification_head import SFMClassificationHead, SFMLocalAttention
from .sfm_global_attention import SFMGlobalAttention
from .sfm_neck import SFMNeck

__all__ = [
    'SFMClassificationHead', 'SFMGlobalAttention', 'SFMLocalAttention',
    'SFMNeck'
]
