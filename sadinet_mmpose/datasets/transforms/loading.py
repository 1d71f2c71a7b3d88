"""Image loading that names the bad file, or skips it with a counted
warning."""
import os.path as osp
import warnings
from typing import Optional

from mmpose.datasets.transforms import LoadImage
from mmpose.registry import TRANSFORMS


class BadImageError(IOError):
    """An image file is missing, unreadable or cannot be decoded."""


class BadImageWarning(UserWarning):
    """Warning category for images skipped by :class:`SafeLoadImage`."""


@TRANSFORMS.register_module()
class SafeLoadImage(LoadImage):
    """:class:`mmpose.datasets.LoadImage` with clear errors for bad images.

    A missing, unreadable, undecodable or empty image raises
    :class:`BadImageError` naming the file and the record (``id`` and
    ``img_id`` of the data info). With ``skip_bad_images=True`` the transform
    instead returns ``None`` and emits a :class:`BadImageWarning` that counts
    the images skipped so far by this transform instance (one count per
    dataloader worker). MMEngine's ``BaseDataset`` then draws another sample
    in training; in test mode it refuses ``None`` (a test sample cannot be
    dropped silently), so use the flag in training pipelines only.

    Args:
        skip_bad_images (bool): Skip bad images instead of raising. Defaults
            to False.
        **kwargs: The arguments of :class:`mmpose.datasets.LoadImage`
            (``to_float32``, ``color_type``, ``imdecode_backend``,
            ``backend_args``).
    """

    def __init__(self, skip_bad_images: bool = False, **kwargs):
        kwargs.setdefault('ignore_empty', False)
        super().__init__(**kwargs)
        self.skip_bad_images = skip_bad_images
        self.num_skipped = 0

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` (or check ``results['img']``).

        Args:
            results (dict): The data info of one sample.

        Returns:
            dict | None: ``results`` with ``img``, ``img_shape``,
            ``ori_shape``; None for a bad image with ``skip_bad_images``.
        """
        if 'img' in results:
            return super().transform(results)
        path = results.get('img_path')
        record = f"record id={results.get('id')}, img_id=" \
                 f"{results.get('img_id')}"
        try:
            out = super().transform(results)
            img = None if out is None else out.get('img')
            if img is None or img.size == 0:
                raise BadImageError('decoded to an empty image')
        except Exception as e:  # missing file, I/O or decoding error
            detail = ' '.join(str(e).split())  # one line (OpenCV adds \n)
            if isinstance(e, FileNotFoundError) or 'No such file' in detail:
                reason = 'file not found'
            elif isinstance(path, str) and osp.isfile(path) and \
                    osp.getsize(path) == 0:
                reason = 'cannot read or decode it: empty file (0 bytes)'
            else:
                reason = (f'cannot read or decode it ({type(e).__name__}: '
                          f'{detail})')
            msg = f'bad image {path!r} ({record}): {reason}'
            if not self.skip_bad_images:
                raise BadImageError(msg) from e
            self.num_skipped += 1
            warnings.warn(
                f'{msg}; skipped (skip_bad_images=True, {self.num_skipped} '
                'bad image(s) skipped so far in this worker)', BadImageWarning)
            return None
        return out

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', skip_bad_images={self.skip_bad_images})')
