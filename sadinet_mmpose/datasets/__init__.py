"""Datasets, converters and transforms (registered in MMPose's registries)."""
from .lsp_dataset import LSP_METAINFO_FILE, LSPDataset
from .mpii_test_dataset import MpiiTestDataset
from .safe_mpii_dataset import SafeMpiiDataset
from .synthetic_dataset import SyntheticLSPDataset, SyntheticMpiiDataset
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _transforms_all
from .validation import BadAnnotationWarning

__all__ = [
    'LSPDataset', 'LSP_METAINFO_FILE', 'SafeMpiiDataset', 'MpiiTestDataset',
    'SyntheticMpiiDataset', 'SyntheticLSPDataset', 'BadAnnotationWarning'
]
__all__ += list(_transforms_all)
