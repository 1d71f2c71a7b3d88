"""Evaluation functions: heatmap PCK on the model's device, the predictive
distribution of a keypoint (regions, fit, probabilities) and the test
settings a calibration was fitted under."""
from .fit_conditions import (CONDITIONS_LEN, conditions_hold,
                             describe_conditions, encode_conditions,
                             settings_of)
from .heatmap_pck import heatmap_pck_accuracy
from .sigma_distribution import (DOF_GRID, coverage_radius, describe_tail,
                                 fit_sigma_calibration, log_density,
                                 probability_within, radius_cdf)

__all__ = [
    'CONDITIONS_LEN', 'conditions_hold', 'describe_conditions',
    'encode_conditions', 'settings_of', 'heatmap_pck_accuracy', 'DOF_GRID',
    'coverage_radius', 'describe_tail', 'fit_sigma_calibration', 'log_density',
    'probability_within', 'radius_cdf'
]
