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
    """The newest checkpoint in ``folder`` that
    :func:`is_complete_checkpoint`."""
    for path in reversed(list_checkpoints(folder)):
        if is_complete_checkpoint(path):
            return path
    return None


def describe_mismatch(model_state: dict,
                      ckpt_state: dict,
                      limit: int = 10) -> Optional[str]:
    """Describe how a checkpoint's state dict fails to fit a model's.

    Args:
        model_state (dict): The model's ``state_dict()``.
        ckpt_state (dict): The checkpoint's state dict (a ``module.`` prefix
            from DDP is ignored).
        limit (int): At most this many keys are listed per kind.

    Returns:
        str | None: None if every shared key has the same shape and at least
        half of the model's keys are in the checkpoint; else a report of the
        keys with different shapes (both shapes), missing and unexpected.
    """
    from ..checkpoint_fit import checkpoint_fit
    fit = checkpoint_fit(model_state, ckpt_state)
    shapes, missing, unexpected = fit['shapes'], fit['missing'], \
        fit['unexpected']
    shared = len(model_state) - len(missing)
    if not shapes and shared * 2 >= len(model_state):
        return None
    lines = [
        f'  {len(shapes)} tensors differ in shape, {len(missing)} model '
        f'keys are missing from the checkpoint, {len(unexpected)} '
        f'checkpoint keys are unknown to the model ({shared} of '
        f'{len(model_state)} model keys found)'
    ]
    for k, got, want in shapes[:limit]:
        lines.append(f'  shape mismatch {k}: checkpoint {got}, model {want}')
    for k in missing[:limit]:
        lines.append(f'  missing {k}')
    for k in unexpected[:limit]:
        lines.append(f'  unexpected {k}')
    return '\n'.join(lines)


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

    When a checkpoint is loaded (``after_load_checkpoint``, before its
    weights reach the model): tensors whose shapes differ from the model's,
    or a checkpoint that shares fewer than half of the model's parameter
    names (a different model), stop with the list of mismatched keys and
    shapes, instead of mmengine's warning and a half-loaded model.

    Args:
        allow_overwrite (bool): Let a fresh run write into a work dir that
            already holds checkpoints. Defaults to False.
        mismatch (str): 'error' (default) or 'warn' for a checkpoint that
            does not fit the model (use 'warn' to fine-tune from a model with
            another head on purpose).
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_overwrite: bool = False, mismatch: str = 'error'):
        if mismatch not in ('error', 'warn'):
            raise ValueError("CheckpointGuardHook: mismatch must be 'error' "
                             f"or 'warn', got {mismatch!r}")
        self.allow_overwrite = allow_overwrite
        self.mismatch = mismatch

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        report = describe_mismatch(model.state_dict(), state)
        if report is None:
            return
        message = ('the checkpoint does not fit the model '
                   f'{type(model).__name__}:\n{report}')
        if self.mismatch == 'error':
            raise RuntimeError(
                message + '\n(to load it anyway, e.g. to fine-tune with '
                "another head, set CheckpointGuardHook's mismatch='warn')")
        print_log(message, logger='current', level=30)

    def before_run(self, runner) -> None:
        work_dir = runner.work_dir
        partial = glob.glob(osp.join(work_dir, PARTIAL_PREFIX + '*'))
        if partial:
            print_log(
                f'CheckpointGuardHook: {len(partial)} unfinished checkpoint '
                f'write(s) from an interrupted run in {work_dir} are ignored: '
                f'{sorted(map(osp.basename, partial))}',
                logger='current',
                level=30)
        resume = getattr(runner, '_resume', False)
        load_from = getattr(runner, '_load_from', None)
        if load_from and osp.isfile(
                load_from) and not is_complete_checkpoint(load_from):
            newest = newest_complete_checkpoint(osp.dirname(load_from))
            raise RuntimeError(
                f'checkpoint {load_from} is incomplete (truncated or not a '
                'torch.save archive), probably written by a run that was '
                'killed; ' +
                (f'the newest complete one there is {newest}'
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
                    'scratch',
                    logger='current',
                    level=30)
                os.replace(record, record + '.invalid')
            return
        print_log(
            f'CheckpointGuardHook: last_checkpoint names '
            f'{named or "nothing"}, which is missing or incomplete; resuming '
            f'from the newest complete checkpoint {newest} instead',
            logger='current',
            level=30)
        atomic_write_bytes(newest.encode(), record)

    def before_train(self, runner) -> None:
        if self.allow_overwrite or getattr(runner, '_resume', False):
            return
        existing = list_checkpoints(runner.work_dir)
        if existing:
            raise RuntimeError(
                f'work dir {runner.work_dir} already holds checkpoints '
                f'({", ".join(map(osp.basename, existing[-3:]))}'
                f'{", ..." if len(existing) > 3 else ""}) from an earlier '
                'run; '
                'a new run would overwrite them. Resume it with --resume, '
                'choose another --work-dir, or allow it explicitly with '
                "--cfg-options custom_hooks.<i>.allow_overwrite=True "
                "(CheckpointGuardHook)")
