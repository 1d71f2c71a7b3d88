"""SigmaPoseVisualizer: MMPose's skeleton plus the sigma ellipses, and the
four-panel picture."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.registry import VISUALIZERS
from mmpose.structures import PoseDataSample

import sadinet_mmpose.visualization  # noqa: F401  isort: skip (registers)

#: A standing figure in MPII's joint order, in fractions of the image side.
POSE = np.array([[.40, .92], [.41, .75], [.42, .55], [.58, .55], [.59, .75],
                 [.60, .92], [.50, .55], [.50, .30], [.50, .22], [.50, .08],
                 [.25, .52], [.30, .40], [.38, .28], [.62, .28], [.70, .40],
                 [.75, .52]])


def _meta():
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    return parse_pose_metainfo(
        dict(
            from_file=osp.join(
                osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_',
                'datasets', 'mpii.py')))


def _sample(sigma=6., with_maps=True):
    s = PoseDataSample()
    s.pred_instances = InstanceData(
        keypoints=POSE[None] * 200.,
        keypoint_scores=np.ones((1, 16)),
        keypoints_visible=np.ones((1, 16)),
        keypoint_sigmas=np.full((1, 16, 2), sigma, np.float32))
    s.set_metainfo(
        dict(
            input_center=np.array([100., 100.]),
            input_scale=np.array([200., 200.])))
    if with_maps:
        s.pred_fields = PixelData(
            heatmaps=torch.rand(16, 8, 8), heatmaps_h2=torch.rand(16, 8, 8))
    return s


@pytest.fixture
def vis(request):
    v = VISUALIZERS.build(
        dict(
            type='SigmaPoseVisualizer',
            name=f'test_{request.node.name}',
            sigma_color=(255, 255, 255),
            radius=2,
            line_width=1))
    v.set_dataset_meta(_meta())
    return v


def test_sigma_ellipse_is_drawn_around_each_keypoint(vis):
    image = np.zeros((200, 200, 3), np.uint8)
    drawn = vis._draw_instances_kpts(image.copy(), _sample().pred_instances)
    inst = _sample().pred_instances
    del inst.keypoint_sigmas
    plain = vis._draw_instances_kpts(image.copy(), inst)  # MMPose's drawing
    assert plain.any(), 'the skeleton is drawn'
    added = (drawn != plain).any(-1)
    ys, xs = np.nonzero(added)
    pts = POSE * 200.
    dist = np.sqrt((xs[:, None] - pts[:, 0])**2 +
                   (ys[:, None] - pts[:, 1])**2).min(1)
    assert dist.max() < 8.5, 'the ellipses (semi-axes 6 px) stay near joints'
    for x, y in pts:
        d = np.sqrt((xs - x)**2 + (ys - y)**2)
        assert ((d > 4.5) & (d < 7.5)).sum() > 10, f'no ring around ({x}, {y})'


def test_panels_have_four_parts(vis):
    image = np.full((200, 200, 3), 60, np.uint8)
    picture = vis.render_panels(image, _sample())
    assert picture.shape == (256, 1024, 3) and picture.dtype == np.uint8
    # heatmap panels are coloured by the maps; without maps they are dimmed
    no_maps = vis.render_panels(image, _sample(with_maps=False))
    assert no_maps[30:, 256:768].mean() < 30 < picture[30:, 256:768].mean()
    assert np.array_equal(picture[:, :256], no_maps[:, :256])
