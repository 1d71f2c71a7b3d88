"""Evaluation functions that run on tensors on the model's device."""
from .heatmap_pck import heatmap_pck_accuracy

__all__ = ['heatmap_pck_accuracy']
