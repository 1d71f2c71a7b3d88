"""Visualisers (registered in MMPose's ``VISUALIZERS``) and the sigma
calibration plot."""
from .calibration_plot import plot_calibration
from .sigma_visualizer import SigmaPoseVisualizer

__all__ = ['SigmaPoseVisualizer', 'plot_calibration']
