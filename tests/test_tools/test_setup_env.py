"""tools/setup_env.sh stops clearly on bad input and leaves nothing half-
built."""
import os
import os.path as osp
import subprocess

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'setup_env.sh')


def _run(env_extra, tmp_path):
    env = dict(os.environ)
    env.update(env_extra)
    return subprocess.run(['bash', SCRIPT],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=env,
                          cwd=str(tmp_path))


def test_unsupported_python_stops_before_anything(tmp_path):
    fake = tmp_path / 'python3.7'
    fake.write_text('#!/bin/sh\necho 3.7\n')
    fake.chmod(0o755)
    venv = tmp_path / 'venv'
    proc = _run({'PYTHON': str(fake), 'SADINET_VENV': str(venv)}, tmp_path)
    assert proc.returncode != 0
    assert 'Python 3.7 is not supported' in proc.stderr, proc.stderr
    assert not venv.exists(), 'no environment may be created'


def test_missing_interpreter_is_named(tmp_path):
    proc = _run(
        {
            'PYTHON': 'no-such-python3.11',
            'SADINET_VENV': str(tmp_path / 'v')
        }, tmp_path)
    assert proc.returncode != 0
    assert "no 'no-such-python3.11' on PATH" in proc.stderr, proc.stderr


def test_unreachable_registry_stops_before_anything(tmp_path):
    links = tmp_path / 'no-links'
    links.mkdir()
    venv = tmp_path / 'venv'
    proc = _run(
        {
            'SADINET_VENV': str(venv),
            'PIP_CONFIG_FILE': os.devnull,
            'PIP_INDEX_URL': 'http://127.0.0.1:9/simple',
            'PIP_EXTRA_INDEX_URL': '',
            'PIP_FIND_LINKS': str(links),
            'PIP_RETRIES': '0',
            'PIP_TIMEOUT': '5',
        }, tmp_path)
    assert proc.returncode != 0
    assert "cannot download 'mmengine==0.10.7'" in proc.stderr, proc.stderr[
        -2000:]
    assert 'nothing was installed' in proc.stderr
    assert not venv.exists(), 'no environment may be created'


def test_foreign_folder_is_never_touched(tmp_path):
    venv = tmp_path / 'venv'
    venv.mkdir()
    (venv / 'mine.txt').write_text('user data')
    proc = _run({'SADINET_VENV': str(venv)}, tmp_path)
    assert proc.returncode != 0
    assert 'was not made by this script' in proc.stderr, proc.stderr
    assert (venv / 'mine.txt').read_text() == 'user data'
    assert sorted(os.listdir(venv)) == ['mine.txt']
