"""Evaluation functions: heatmap PCK on the model's device, and the
predictive distribution of a keypoint (regions, fit, probabilities)."""
from .heatmap_pck import heatmap_pck_accuracy
from .sigma_distribution import (DOF_GRID, coverage_radius,
                                 fit_sigma_calibration, log_density,
                                 probability_within, radius_cdf)

__all__ = ['heatmap_pck_accuracy', 'DOF_GRID', 'coverage_radius',
           'fit_sigma_calibration', 'log_density', 'probability_within',
           'radius_cdf']
