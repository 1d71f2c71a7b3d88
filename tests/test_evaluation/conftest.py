"""Tests here build MMPose transforms/datasets by short names."""
import pytest


@pytest.fixture(autouse=True)
def _default_scope(mmpose_scope):
    """Use the shared ``mmpose_scope`` fixture (tests/conftest.py)
    everywhere."""
