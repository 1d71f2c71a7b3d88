"""One tiny SADI-Net trained on the MPII sample and exported to ONNX, shared
by the deployment tests."""
import contextlib
import importlib.util
import io
import os.path as osp
from types import SimpleNamespace

import pytest

from helpers import REPO  # noqa: E402


@pytest.fixture(scope='session')
def export_tool():
    """``tools/deploy/export_onnx.py`` as a module (its ``main(argv)``)."""
    path = osp.join(REPO, 'tools', 'deploy', 'export_onnx.py')
    spec = importlib.util.spec_from_file_location('sadinet_export_onnx', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def tiny_onnx(trained_tiny, export_tool, tmp_path_factory):
    """The trained tiny model exported with a dynamic batch (exit status
    and file)."""
    out = tmp_path_factory.mktemp('deploy_onnx') / 'tiny.onnx'
    rc = export_tool.main([
        trained_tiny.cfg, trained_tiny.ckpt, '--out',
        str(out), '--dynamic-batch'
    ])
    return SimpleNamespace(rc=rc, path=str(out))


@pytest.fixture(scope='session')
def tiny_onnx_b3(trained_tiny, export_tool, tmp_path_factory):
    """The trained tiny model exported by the command line with a fixed
    batch of 3 and an explicit input size (exit status, file, printout)."""
    out = tmp_path_factory.mktemp('deploy_onnx_b3') / 'tiny_b3.onnx'
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        rc = export_tool.main([
            trained_tiny.cfg, trained_tiny.ckpt, '--out',
            str(out), '--batch', '3', '--input-size', '64', '64'
        ])
    return SimpleNamespace(rc=rc, path=str(out), text=text.getvalue())
