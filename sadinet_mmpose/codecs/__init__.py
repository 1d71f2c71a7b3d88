"""SADI-Net codecs (registered in ``KEYPOINT_CODECS``).

:mod:`.decoding` and :mod:`.merging` need only numpy and OpenCV; the codec
class needs MMPose and is imported only where PyTorch is installed (a
deployment machine with
ONNX Runtime alone still imports the decoding functions).
"""
from . import decoding, merging  # noqa: F401

try:
    import torch  # noqa: F401
except ImportError:  # a deployment machine: decoding only
    __all__ = []
else:
    from .flow_heatmap import FlowHeatmapCodec
    __all__ = ['FlowHeatmapCodec']
