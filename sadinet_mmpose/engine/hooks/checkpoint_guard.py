"""Never resume from a partial checkpoint; never overwrite one silently."""
import glob
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpose.registry import HOOKS

from ..atomic_backend import PARTIAL_PREFIX, atomic_write_bytes

_CKPT_RE = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole checkpoint written by ``torch.save``.

    ``torch.save`` writes a zip archive whose central directory is the last
    thing written: a truncated file fails :func:`zipfile.ZipFile` or its
    CRC test. Only the archive structure is read, not the tensors.
    """
    if not osp.isfile(path) or osp.getsize(path) == 0:
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            return any(n.endswith('data.pkl') for n in names)
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def list_checkpoints(folder: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` files in ``folder``, oldest first."""
    found = []
    for path in glob.glob(osp.join(folder, '*.pth')):
        m = _CKPT_RE.match(osp.basename(path))
        if m:
            found.append((m.group(1), int(m.group(2)), path))
    found.sort(key=lambda t: (t[1], osp.getmtime(t[2])))
    return [p for _, _, p in found]


def newest_complete_checkpoint(folder: str) -> Optional[str]:
    """The newest checkpoint in ``folder`` that :func:`is_complete_checkpoint`."""
    for path in reversed(list_checkpoints(folder)):
        if is_complete_checkpoint(path):
            return path
    return None


@HOOKS.register_module()
class CheckpointGuardHook(Hook):
    """Protect checkpoints across crashes and re-runs.

    Before the runner loads or resumes (``before_run``):

    * auto-resume (``--resume`` without a path): if ``last_checkpoint`` is
      missing, empty, or names a file that is missing or partial, it is
      pointed at the newest complete ``epoch_N``/``iter_N`` checkpoint of the
      work dir (a warning names what was skipped);
    * ``--resume PATH`` / ``load_from=PATH`` naming a partial file stops with
      an error naming the file and the newest complete one;
    * leftover temporary files of killed atomic writes are reported.

    Before training starts (``before_train``): a run that neither resumes nor
    was allowed to overwrite stops if the work dir already holds
    checkpoints, so a new run never overwrites them silently.

    Args:
        allow_overwrite (bool): Let a fresh run write into a work dir that
            already holds checkpoints. Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_overwrite: bool = False):
        self.allow_overwrite = allow_overwrite

    def before_run(self, runner) -> None:
        work_dir = runner.work_dir
        partial = glob.glob(osp.join(work_dir, PARTIAL_PREFIX + '*'))
        if partial:
            print_log(
                f'CheckpointGuardHook: {len(partial)} unfinished checkpoint '
                f'write(s) from an interrupted run in {work_dir} are ignored: '
                f'{sorted(map(osp.basename, partial))}',
                logger='current', level=30)
        resume = getattr(runner, '_resume', False)
        load_from = getattr(runner, '_load_from', None)
        if load_from and osp.isfile(load_from) and not is_complete_checkpoint(load_from):
            newest = newest_complete_checkpoint(osp.dirname(load_from))
            raise RuntimeError(
                f'checkpoint {load_from} is incomplete (truncated or not a '
                'torch.save archive), probably written by a run that was '
                'killed; '
                + (f'the newest complete one there is {newest}'
                   if newest else 'no complete checkpoint is next to it'))
        if resume and load_from is None:
            self._repair_last_checkpoint(work_dir)

    @staticmethod
    def _repair_last_checkpoint(work_dir: str) -> None:
        record = osp.join(work_dir, 'last_checkpoint')
        named = None
        if osp.isfile(record):
            with open(record) as f:
                named = f.read().strip() or None
        if named and is_complete_checkpoint(named):
            return
        newest = newest_complete_checkpoint(work_dir)
        if newest is None:
            if named:
                print_log(
                    f'CheckpointGuardHook: last_checkpoint names {named}, '
                    'which is missing or incomplete, and no complete '
                    'checkpoint is in the work dir: training starts from '
                    'scratch', logger='current', level=30)
                os.replace(record, record + '.invalid')
            return
        print_log(
            f'CheckpointGuardHook: last_checkpoint names '
            f'{named or "nothing"}, which is missing or incomplete; resuming '
            f'from the newest complete checkpoint {newest} instead',
            logger='current', level=30)
        atomic_write_bytes(newest.encode(), record)

    def before_train(self, runner) -> None:
        if self.allow_overwrite or getattr(runner, '_resume', False):
            return
        existing = list_checkpoints(runner.work_dir)
        if existing:
            raise RuntimeError(
                f'work dir {runner.work_dir} already holds checkpoints '
                f'({", ".join(map(osp.basename, existing[-3:]))}'
                f'{", ..." if len(existing) > 3 else ""}) from an earlier run; '
                'a new run would overwrite them. Resume it with --resume, '
                'choose another --work-dir, or allow it explicitly with '
                "--cfg-options custom_hooks.<i>.allow_overwrite=True "
                "(CheckpointGuardHook)")
