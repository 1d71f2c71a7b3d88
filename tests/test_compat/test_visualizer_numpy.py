"""MMPose's visualiser draws keypoints and skeletons under the installed numpy.

MMPose 1.3.2 calls ``int(np.array([radius]))``, an error from numpy 2.4 on;
the plugin wraps ``draw_circles`` only where the installed code fails.
"""
import subprocess
import sys

import numpy as np
import pytest
from mmpose.visualization import PoseLocalVisualizer  # noqa: E402
from mmpose.visualization.opencv_backend_visualizer import \
    OpencvBackendVisualizer  # noqa: E402

from sadinet_mmpose.compat.visualizer_numpy import (  # noqa: E402
    _one_element_to_scalar, install_visualizer_compat,
    opencv_circles_accept_array_radius)

import sadinet_mmpose  # noqa: F401  isort: skip


def _numpy_converts_one_element_arrays():
    try:
        int(np.array([3]))
    except TypeError:
        return False
    return True


def _mpii_meta():
    import os.path as osp

    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    return parse_pose_metainfo(
        dict(
            from_file=osp.join(
                osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_',
                'datasets', 'mpii.py')))


#: A standing figure in MPII's joint order, in fractions of the image side.
POSE = np.array([[.40, .92], [.41, .75], [.42, .55], [.58, .55], [.59, .75],
                 [.60, .92], [.50, .55], [.50, .30], [.50, .22], [.50, .08],
                 [.25, .52], [.30, .40], [.38, .28], [.62, .28], [.70, .40],
                 [.75, .52]])


def _draw(name, scores):
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    vis = PoseLocalVisualizer(name=name, radius=3, line_width=2)
    vis.set_dataset_meta(_mpii_meta())
    sample = PoseDataSample()
    # as a model's prediction: TopdownPoseEstimator copies the scores into
    # keypoints_visible, which the visualiser compares with kpt_thr
    sample.pred_instances = InstanceData(
        keypoints=POSE[None] * 200.,
        keypoint_scores=np.full((1, 16), scores),
        keypoints_visible=np.full((1, 16), scores))
    image = np.full((200, 200, 3), 128, dtype=np.uint8)
    return vis.add_datasample(
        'x',
        image,
        sample,
        draw_gt=False,
        draw_bbox=False,
        kpt_thr=0.3,
        show=False), vis


def test_probe_matches_the_installed_numpy():
    """The unpatched MMPose method fails exactly when numpy refuses the
    conversion (numpy >= 2.4), and the plugin patched it exactly then."""
    current = OpencvBackendVisualizer.draw_circles
    original = getattr(current, '__wrapped__', current)

    class Unpatched(OpencvBackendVisualizer):
        pass

    Unpatched.draw_circles = original
    works = _numpy_converts_one_element_arrays()
    assert opencv_circles_accept_array_radius(Unpatched) is works
    assert getattr(current, 'sadinet_compat', False) is (not works), \
        'import sadinet_mmpose should patch draw_circles iff it fails'
    assert opencv_circles_accept_array_radius(OpencvBackendVisualizer)


def test_skeleton_is_drawn_in_the_dataset_colours():
    """A stock ``PoseLocalVisualizer.add_datasample`` with every keypoint
    above the threshold draws MPII's link colours (orange right limbs,
    green left limbs, blue torso/head) where the links are."""
    picture, vis = _draw('compat_drawn', scores=0.9)
    changed = (picture != 128).any(-1)
    assert changed.sum() > 500, f'only {changed.sum()} pixels drawn'
    colours = {tuple(int(c) for c in col) for col in vis.link_color}
    assert colours == {(255, 128, 0), (0, 255, 0), (51, 153, 255)}
    for colour in colours:
        n = (picture == np.array(colour, dtype=np.uint8)).all(-1).sum()
        assert n > 50, f'link colour {colour}: {n} pixels'
    # the torso link (pelvis -> thorax) is blue along its middle
    x, y = (POSE[6] + POSE[7]) / 2 * 200
    assert tuple(picture[int(y), int(x)]) == (51, 153, 255)


def test_nothing_drawn_below_threshold():
    picture, _ = _draw('compat_low', scores=0.1)
    assert not (picture != 128).any(), 'keypoints below kpt_thr were drawn'


def test_correct_code_is_left_alone():
    """Where ``draw_circles`` already takes a one-element radius (older
    numpy, or a fixed MMPose) nothing is patched."""

    class Fixed(OpencvBackendVisualizer):

        def draw_circles(self,
                         center,
                         radius,
                         face_colors='none',
                         alpha=1.0,
                         **kwargs):
            import cv2
            self._image = cv2.circle(self._image,
                                     (int(center[0]), int(center[1])),
                                     int(np.asarray(radius).reshape(-1)[0]),
                                     face_colors, -1)
            return self

    before = Fixed.draw_circles
    assert opencv_circles_accept_array_radius(Fixed)
    assert install_visualizer_compat(Fixed) is False
    assert Fixed.draw_circles is before


def test_failing_code_is_wrapped_once_and_then_draws():

    class Strict(OpencvBackendVisualizer):

        def draw_circles(self,
                         center,
                         radius,
                         face_colors='none',
                         alpha=1.0,
                         **kwargs):
            if isinstance(radius, np.ndarray) and radius.ndim > 0:
                raise TypeError('only 0-dimensional arrays can be converted '
                                'to Python scalars')
            self._image[int(center[1]), int(center[0])] = face_colors
            return self

    original = Strict.draw_circles
    assert not opencv_circles_accept_array_radius(Strict)
    assert install_visualizer_compat(Strict) is True
    wrapped = Strict.draw_circles
    assert wrapped is not original and wrapped.__wrapped__ is original
    assert install_visualizer_compat(Strict) is True
    assert Strict.draw_circles is wrapped, 'wrapped twice'
    assert opencv_circles_accept_array_radius(Strict)


def test_other_type_errors_are_not_swallowed():

    class Broken(OpencvBackendVisualizer):

        def draw_circles(self, *args, **kwargs):
            raise TypeError('unrelated')

    with pytest.raises(TypeError, match='unrelated'):
        install_visualizer_compat(Broken)


def test_one_element_to_scalar():
    import torch
    assert _one_element_to_scalar(np.array([3])) == 3
    assert _one_element_to_scalar(np.array([[2.5]])) == 2.5
    assert _one_element_to_scalar(torch.tensor([4])) == 4
    two = np.array([1, 2])
    assert _one_element_to_scalar(two) is two
    assert _one_element_to_scalar(5) == 5


def test_plugin_import_patches_without_importing_the_visualiser():
    """``import sadinet_mmpose`` does not import ``mmpose.visualization``
    (and torchvision) itself; the patch lands when MMPose imports it."""
    code = (
        'import sys\n'
        'import sadinet_mmpose\n'
        "assert 'mmpose.visualization' not in sys.modules, 'imported early'\n"
        'from mmpose.visualization import PoseLocalVisualizer as V\n'
        "print('PATCHED', getattr(V.draw_circles, 'sadinet_compat', False))\n")
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = not _numpy_converts_one_element_arrays()
    assert f'PATCHED {want}' in proc.stdout, proc.stdout + proc.stderr[-2000:]
