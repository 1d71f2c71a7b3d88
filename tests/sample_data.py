"""Test data kept in the repository (``tests/data``)."""
import os.path as osp

import pytest

TESTS = osp.dirname(osp.abspath(__file__))
#: Five real MPII images with their annotations (MpiiDataset's JSON format),
#: kept in the repository as MMPose keeps its own test images.
MPII_SAMPLE = osp.join(TESTS, 'data', 'mpii_sample')
MPII_SAMPLE_FILES = ('annotations/mpii_sample.json', 'images/004645041.jpg',
                     'images/005808361.jpg', 'images/051423444.jpg',
                     'images/052475643.jpg', 'images/060754485.jpg')


def check_mpii_sample(root: str = MPII_SAMPLE) -> str:
    """Fail (not skip) when a file of the MPII sample is missing.

    Args:
        root (str): The sample folder.

    Returns:
        str: ``root``.
    """
    missing = [
        f for f in MPII_SAMPLE_FILES if not osp.isfile(osp.join(root, f))
    ]
    if missing:
        pytest.fail(
            f'MPII test sample incomplete: {", ".join(missing)} '
            f'missing under {root} (the files are part of the '
            'repository: restore them with git)',
            pytrace=False)
    return root
