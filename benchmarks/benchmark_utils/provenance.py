"""What a result page records about where it was made."""
import os
import os.path as osp
import subprocess

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def git_commit(repo: str = REPO) -> str:
    """The short commit of ``repo``, ``+changes`` when tracked files differ
    from it, ``unknown`` outside a git checkout."""
    try:
        sha = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                             cwd=repo,
                             capture_output=True,
                             text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(
            ['git', 'status', '--porcelain', '--untracked-files=no'],
            cwd=repo,
            capture_output=True,
            text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return sha + ('+changes' if dirty else '')


def load_average() -> float:
    """The 1-minute load average (0 where the system has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.
