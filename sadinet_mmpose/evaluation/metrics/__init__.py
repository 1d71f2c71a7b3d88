"""Evaluation metrics (registered in MMPose's ``METRICS``)."""
from .lsp_pck_accuracy import LSPPCKAccuracy

__all__ = ['LSPPCKAccuracy']
