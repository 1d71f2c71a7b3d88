"""Deployment: ONNX export (needs PyTorch) and a runtime that does not.

``from sadinet_mmpose.deploy import OnnxPoseEstimator`` needs only numpy,
OpenCV and ONNX Runtime. The exporter, :mod:`sadinet_mmpose.deploy.export`,
needs the training stack and is imported explicitly.
"""
from .runtime import METADATA_KEY, OnnxPoseEstimator, read_metadata

__all__ = ['OnnxPoseEstimator', 'read_metadata', 'METADATA_KEY']
