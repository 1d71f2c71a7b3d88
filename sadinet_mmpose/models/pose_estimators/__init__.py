"""Pose estimators (registered in MMPose's ``MODELS``)."""
from .ms_topdown import (MSTopdownPoseEstimator, aggregate_multiscale_heatmaps,
                         warp_heatmaps_to_reference)

__all__ = [
    'MSTopdownPoseEstimator', 'warp_heatmaps_to_reference',
    'aggregate_multiscale_heatmaps'
]
