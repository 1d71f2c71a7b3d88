"""Datasets on the synthetic figures, generated on first use."""
import difflib
import inspect
import os.path as osp
from typing import Optional, Sequence, Union

from mmpose.registry import DATASETS

from .lsp_dataset import LSPDataset
from .safe_mpii_dataset import SafeMpiiDataset
from .synthetic import default_split_seed, ensure_split

DEFAULT_NUM_IMAGES = dict(train=2000, val=300, test=300)

#: Arguments the synthetic datasets set themselves.
_SET_BY_CLASS = ('ann_file', 'data_prefix', 'headbox_file')


def _check_kwargs(cls: type, base: type, kwargs: dict) -> None:
    """Stop on an argument neither ``cls`` nor ``base`` takes, before any
    image is generated (a misspelt key would otherwise generate a split
    with the default parameters first)."""
    accepted = set()
    for klass in (cls, ) + base.__mro__:
        init = klass.__dict__.get('__init__')
        if init is not None:
            accepted |= {
                name
                for name, p in inspect.signature(init).parameters.items()
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            }
    accepted -= {'self'}
    for key in kwargs:
        if key in _SET_BY_CLASS:
            raise TypeError(
                f'dataset {cls.__name__}: {key!r} is set by the class from '
                'data_root and split; remove it from the config')
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ''
            raise TypeError(
                f'dataset {cls.__name__}: unknown argument {key!r}{hint} '
                f'(it takes {", ".join(sorted(accepted))})')


def _prepare(cls_name: str, data_root: str, split: str,
             num_images: Optional[int], image_size, difficulty: str,
             seed: Optional[int], skeleton: str) -> str:
    if split not in DEFAULT_NUM_IMAGES:
        raise ValueError(f'{cls_name}: split must be one of '
                         f'{sorted(DEFAULT_NUM_IMAGES)}, got {split!r}')
    split_dir = osp.abspath(osp.join(data_root, split))
    ensure_split(
        split_dir,
        num_images=DEFAULT_NUM_IMAGES[split]
        if num_images is None else num_images,
        image_size=image_size,
        difficulty=difficulty,
        seed=default_split_seed(split) if seed is None else seed,
        skeleton=skeleton)
    return split_dir


@DATASETS.register_module()
class SyntheticMpiiDataset(SafeMpiiDataset):
    """Synthetic figures with MPII's 16 joints, generated on first use.

    The split is generated into ``<data_root>/<split>/`` by
    :func:`sadinet_mmpose.datasets.synthetic.ensure_split` the first time
    (safe with several processes; an existing folder is reused only when its
    ``manifest.json`` matches the parameters, otherwise a clear error). It is
    then read as MPII (``annotations.json``, ``images/``); in ``test_mode``
    the generated ``headboxes.mat`` is the ``headbox_file`` so
    ``MpiiPCKAccuracy`` works.

    Args:
        data_root (str): Root folder of the splits. Defaults to
            'data/synthetic_mpii'.
        split (str): 'train', 'val' or 'test'; their default seeds differ
            (0, 1, 2). Defaults to 'train'.
        num_images (int, optional): Images in the split. Defaults to None
            (train 2000, val/test 300).
        image_size (int | Sequence[int]): Image ``(w, h)``. Defaults to 128.
        difficulty (str): 'easy', 'standard' or 'hard' (see
            :mod:`sadinet_mmpose.datasets.synthetic`). Defaults to 'easy'.
        seed (int, optional): Generation seed. Defaults to None (by split).
        test_mode (bool): As MMPose datasets. Defaults to False.
        **kwargs: Other arguments of ``MpiiDataset`` (``pipeline``,
            ``indices``, ``metainfo``, ...); ``ann_file``, ``data_prefix``
            and ``headbox_file`` are set by this class.
    """

    def __init__(self,
                 data_root: str = 'data/synthetic_mpii',
                 split: str = 'train',
                 num_images: Optional[int] = None,
                 image_size: Union[int, Sequence[int]] = 128,
                 difficulty: str = 'easy',
                 seed: Optional[int] = None,
                 test_mode: bool = False,
                 **kwargs):
        _check_kwargs(type(self), SafeMpiiDataset, kwargs)
        split_dir = _prepare(
            type(self).__name__, data_root, split, num_images, image_size,
            difficulty, seed, 'mpii')
        self.split = split
        super().__init__(
            ann_file=osp.join(split_dir, 'annotations.json'),
            data_root=data_root,
            data_prefix=dict(img=osp.join(split_dir, 'images') + osp.sep),
            headbox_file=osp.join(split_dir, 'headboxes.mat')
            if test_mode else None,
            test_mode=test_mode,
            **kwargs)


@DATASETS.register_module()
class SyntheticLSPDataset(LSPDataset):
    """Synthetic figures with LSP's 14 joints, generated on first use.

    Written in the original LSP layout (``lsp_dataset/joints.mat`` (3, 14,
    N), ``lsp_dataset/images/im0001.jpg``) and converted to the project's
    LSP JSON, then read by :class:`LSPDataset` (evaluate with
    ``LSPPCKAccuracy``). Arguments as :class:`SyntheticMpiiDataset`, with
    ``data_root`` defaulting to 'data/synthetic_lsp'.
    """

    def __init__(self,
                 data_root: str = 'data/synthetic_lsp',
                 split: str = 'train',
                 num_images: Optional[int] = None,
                 image_size: Union[int, Sequence[int]] = 128,
                 difficulty: str = 'easy',
                 seed: Optional[int] = None,
                 **kwargs):
        _check_kwargs(type(self), LSPDataset, kwargs)
        split_dir = _prepare(
            type(self).__name__, data_root, split, num_images, image_size,
            difficulty, seed, 'lsp')
        self.split = split
        super().__init__(
            ann_file=osp.join(split_dir, 'annotations.json'),
            data_root=data_root,
            data_prefix=dict(img=split_dir + osp.sep),
            **kwargs)
