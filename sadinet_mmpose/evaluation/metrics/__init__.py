"""Evaluation metrics (registered in MMPose's ``METRICS``)."""
from .error_taxonomy import (ERROR_CLASSES, KeypointErrorTaxonomy,
                             classify_errors)
from .frame_guard import install_stock_metric_guard
from .keypoint_bias import KeypointBias
from .lsp_pck_accuracy import LSPPCKAccuracy
from .mpii_pckh_accuracy import MpiiPCKhAccuracy
from .mpii_prediction_dump import MPII_JOINT_ORDER, MpiiPredictionDump
from .score_auroc import KeypointScoreAUROC
from .sigma_calibration import SigmaCalibration

__all__ = [
    'ERROR_CLASSES', 'KeypointBias', 'KeypointErrorTaxonomy',
    'classify_errors', 'KeypointScoreAUROC', 'LSPPCKAccuracy',
    'MPII_JOINT_ORDER', 'MpiiPCKhAccuracy', 'MpiiPredictionDump',
    'SigmaCalibration'
]

# MMPose's MpiiPCKAccuracy refuses the project's 0-based MPII datasets
install_stock_metric_guard()
