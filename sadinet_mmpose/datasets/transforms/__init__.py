"""Pipeline transforms (registered in MMPose's ``TRANSFORMS``)."""
from .loading import BadImageError, BadImageWarning, SafeLoadImage
from .multiscale import MS_META_KEYS, MultiScaleTopdownAffine

__all__ = [
    'SafeLoadImage', 'BadImageError', 'BadImageWarning',
    'MultiScaleTopdownAffine', 'MS_META_KEYS'
]
