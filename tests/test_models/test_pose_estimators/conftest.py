"""Build modules and transforms from MMPose's registries by short names."""
import pytest


@pytest.fixture(autouse=True)
def mmpose_scope():
    import sadinet_mmpose  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
