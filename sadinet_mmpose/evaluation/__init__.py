"""Evaluation metrics (registered in MMPose's ``METRICS``) and functions."""
from .functional import heatmap_pck_accuracy
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all

__all__ = ['heatmap_pck_accuracy', *_metrics_all]
