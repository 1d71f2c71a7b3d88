"""Shared pytest setup for sadinet-mmpose.

Markers:
    slow: end-to-end tests that drive MMPose's runner or subprocesses
        (seconds to minutes each). Quick subset: ``pytest -m "not slow"``.
    gpu: needs CUDA; skipped automatically without it.
"""
import os
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MPII_SAMPLE = os.environ.get(
    'SADINET_MPII_SAMPLE',
    osp.join(osp.dirname(REPO_ROOT), 'shared', 'data', 'mpii_sample'))


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end test (runner, subprocess); '
                            'deselect with -m "not slow"')
    config.addinivalue_line('markers', 'gpu: needs a CUDA device')


def pytest_collection_modifyitems(config, items):
    import torch
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason='needs a CUDA device')
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope='session')
def mpii_sample_dir():
    """The five real MPII images with annotations shipped in ``../shared``."""
    if not osp.isdir(MPII_SAMPLE):
        pytest.skip(f'MPII sample not found at {MPII_SAMPLE} '
                    '(set SADINET_MPII_SAMPLE)')
    return MPII_SAMPLE
