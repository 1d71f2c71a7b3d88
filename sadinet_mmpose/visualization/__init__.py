"""Visualisers (registered in MMPose's ``VISUALIZERS``)."""
from .sigma_visualizer import SigmaPoseVisualizer

__all__ = ['SigmaPoseVisualizer']
