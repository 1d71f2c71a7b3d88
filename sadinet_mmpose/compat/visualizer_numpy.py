"""Let MMPose 1.3.2's visualiser draw keypoints under numpy >= 2.4.

``PoseLocalVisualizer`` draws each keypoint with
``self.draw_circles(kpt, radius=np.array([self.radius]), ...)``, and the
OpenCV branch of :meth:`OpencvBackendVisualizer.draw_circles` passes
``int(radius)`` to ``cv2.circle``. numpy 2.4 no longer converts a
one-element, one-dimensional array to a Python scalar (``TypeError: only
0-dimensional arrays can be converted to Python scalars``), so every picture
with a keypoint above the score threshold fails: ``demo/image_demo.py``,
``tools/test.py --show-dir``, the runner's ``PoseVisualizationHook`` and
``MMPoseInferencer``.

:func:`install_visualizer_compat` probes the installed ``draw_circles`` with
such a radius on a 4 x 4 image. Only if that raises the ``TypeError`` does it
wrap the method so that the OpenCV branch receives the radius as a Python
number (the same circle the code draws under numpy < 2.4); everything else,
and the matplotlib backend, go through MMPose's own code unchanged. Where
the installed MMPose/numpy pair already works nothing is patched.

:func:`install_visualizer_compat_on_import` (called by ``import
sadinet_mmpose``) applies it as soon as MMPose's visualiser module is
imported, without importing it (and torchvision) itself.

Upstream: MMPose 1.3.2's ``OpencvBackendVisualizer.draw_circles`` under numpy
>= 2.4.
Drop when: MMPose passes a Python number to ``cv2.circle``, or numpy < 2.4 is
pinned; the patch then installs nothing and the canary test says so.
"""
import numpy as np

from .on_import import patch_on_import

#: The module whose ``OpencvBackendVisualizer.draw_circles`` is probed.
VISUALIZER_MODULE = 'mmpose.visualization.opencv_backend_visualizer'


def _one_element_to_scalar(value):
    """A one-element array or tensor as a Python number; anything else as is.

    Args:
        value: The ``radius`` given to ``draw_circles``.

    Returns:
        The element (``int``/``float``) if ``value`` is a numpy array or
        torch tensor of size 1, else ``value`` unchanged.
    """
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(()).item()
    if type(value).__module__ == 'torch' and hasattr(value, 'numel') and \
            value.numel() == 1:
        return value.item()
    return value


def opencv_circles_accept_array_radius(visualizer_cls=None) -> bool:
    """Whether ``draw_circles`` (OpenCV backend) takes ``np.array([r])``.

    Calls the installed method, unbound, on a stand-in holding a blank
    4 x 4 image: the code path ``PoseLocalVisualizer`` uses for keypoints.

    Args:
        visualizer_cls (type, optional): The class to probe. Defaults to
            MMPose's ``OpencvBackendVisualizer``.

    Returns:
        bool: False if the call raises the numpy scalar-conversion
        ``TypeError``, True if it draws.
    """
    from types import SimpleNamespace
    if visualizer_cls is None:
        from mmpose.visualization.opencv_backend_visualizer import \
            OpencvBackendVisualizer as visualizer_cls
    probe = SimpleNamespace(
        backend='opencv', _image=np.zeros((4, 4, 3), dtype=np.uint8))
    try:
        visualizer_cls.draw_circles(
            probe,
            np.array([2., 2.]),
            radius=np.array([1]),
            face_colors=(255, 255, 255),
            alpha=1.0)
    except TypeError as err:
        if 'scalar' not in str(err):
            raise
        return False
    return True


def install_visualizer_compat(visualizer_cls=None) -> bool:
    """Wrap ``draw_circles`` if (and only if) the installed one fails.

    Args:
        visualizer_cls (type, optional): The class to patch. Defaults to
            MMPose's ``OpencvBackendVisualizer`` (``PoseLocalVisualizer``
            inherits the method from it).

    Returns:
        bool: True if the wrapper is in place (now or from an earlier call),
        False if the installed code draws as it is and nothing was patched.
    """
    if visualizer_cls is None:
        try:
            from mmpose.visualization.opencv_backend_visualizer import \
                OpencvBackendVisualizer as visualizer_cls
        except ImportError:  # no MMPose visualiser: nothing to fix
            return False
    original = visualizer_cls.draw_circles
    if getattr(original, 'sadinet_compat', False):
        return True
    if opencv_circles_accept_array_radius(visualizer_cls):
        return False

    def draw_circles(self, center, radius, *args, **kwargs):
        if getattr(self, 'backend', None) == 'opencv':
            radius = _one_element_to_scalar(radius)
        return original(self, center, radius, *args, **kwargs)

    draw_circles.__doc__ = original.__doc__
    draw_circles.__name__ = original.__name__
    draw_circles.__qualname__ = original.__qualname__
    draw_circles.__wrapped__ = original
    draw_circles.sadinet_compat = True
    visualizer_cls.draw_circles = draw_circles
    return True


def install_visualizer_compat_on_import() -> None:
    """Apply :func:`install_visualizer_compat` now if MMPose's visualiser is
    imported, else right after it is (an import hook; nothing is imported
    here)."""

    def patch(module):
        install_visualizer_compat(module.OpencvBackendVisualizer)

    patch_on_import(VISUALIZER_MODULE, patch)
