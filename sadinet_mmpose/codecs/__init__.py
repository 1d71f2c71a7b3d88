"""SADI-Net codecs (registered in ``KEYPOINT_CODECS``)."""
from .flow_heatmap import FlowHeatmapCodec

__all__ = ['FlowHeatmapCodec']
