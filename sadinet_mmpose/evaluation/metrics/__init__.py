"""Evaluation metrics (registered in MMPose's ``METRICS``)."""
from .lsp_pck_accuracy import LSPPCKAccuracy
from .mpii_prediction_dump import MPII_JOINT_ORDER, MpiiPredictionDump
from .sigma_calibration import SigmaCalibration

__all__ = ['LSPPCKAccuracy', 'MPII_JOINT_ORDER', 'MpiiPredictionDump',
           'SigmaCalibration']
