"""A local file backend whose writes are atomic (for checkpoints).

mmengine's ``LocalBackend.put`` opens the final path with ``'wb'`` and writes
into it: a process killed while a checkpoint is written leaves a truncated
file under the checkpoint's own name. :class:`AtomicLocalBackend` writes to a
temporary file in the same folder, flushes it to disk and renames it over the
final name, so a checkpoint file is either complete or absent. The file gets
the permissions ``open(path, 'wb')`` would give it (``0o666`` less the
process umask, or the mode of the file it replaces), as mmengine's writer:
``tempfile.mkstemp`` alone would leave it readable by its owner only.

Select it for checkpoints with
``default_hooks =
dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))``
(the project's configs do).
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio import register_backend
from mmengine.fileio.backends import LocalBackend

#: Prefix of the temporary files; a leftover one is a write that was killed.
PARTIAL_PREFIX = '.partial-'


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by
    setting and restoring it (``os.umask`` has no read-only form).

    Returns:
        int: The umask, e.g. ``0o022``.
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(filepath: str) -> int:
    """The mode ``open(filepath, 'wb')`` leaves the file with.

    Args:
        filepath (str): The final path.

    Returns:
        int: The mode of the existing file (``open`` keeps it), else
        ``0o666`` less the umask.
    """
    try:
        return os.stat(filepath).st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` atomically (temp file + fsync + rename).

    The file ends up with the permissions a plain ``open(filepath, 'wb')``
    would give it (see :func:`_new_file_mode`).

    Args:
        data (bytes): The content.
        filepath (str | Path): The final path.
    """
    filepath = str(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    mmengine.mkdir_or_exist(folder)
    mode = _new_file_mode(filepath)
    fd, tmp = tempfile.mkstemp(
        prefix=PARTIAL_PREFIX + osp.basename(filepath) + '.', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            os.chmod(tmp, mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


class AtomicLocalBackend(LocalBackend):
    """:class:`LocalBackend` with atomic ``put`` and ``put_text``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend('atomic_local', AtomicLocalBackend, force=True)
