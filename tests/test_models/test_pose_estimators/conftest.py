"""Build modules and transforms from MMPose's registries by short names."""
import pytest


@pytest.fixture(autouse=True)
def mmpose_scope():
    from mmengine.registry import init_default_scope

    import sadinet_mmpose  # noqa: F401
    init_default_scope('mmpose')
