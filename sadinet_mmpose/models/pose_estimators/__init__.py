"""Pose estimators (registered in MMPose's ``MODELS``)."""
from .ms_topdown import MSTopdownPoseEstimator
from .multiscale_cfg import parse_multiscale_cfg

__all__ = ['MSTopdownPoseEstimator', 'parse_multiscale_cfg']
