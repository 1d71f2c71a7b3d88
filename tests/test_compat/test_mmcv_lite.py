"""mmcv-lite placeholders: present on mmcv-lite, absent with full mmcv."""
import os
import subprocess
import sys
import textwrap

import pytest


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c',
                           textwrap.dedent(code)],
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_mmpose_models_imports_on_mmcv_lite():
    from sadinet_mmpose.compat import mmcv_ops_available
    if mmcv_ops_available():
        pytest.skip('full mmcv installed: covered by the simulated test')
    import mmcv.ops
    import mmpose.models  # noqa: F401

    from sadinet_mmpose.compat.mmcv_lite import PLACEHOLDER_OPS
    assert mmcv.ops.is_sadinet_placeholder
    assert sorted(mmcv.ops.__all__) == sorted(PLACEHOLDER_OPS)


@pytest.mark.parametrize(
    'name',
    ['MultiScaleDeformableAttention', 'DeformConv2d', 'ModulatedDeformConv2d'])
def test_placeholder_raises_clear_error_when_used(name):
    from sadinet_mmpose.compat import (MmcvOpsUnavailableError,
                                       mmcv_ops_available)
    if mmcv_ops_available():
        pytest.skip('full mmcv installed')
    import mmcv.ops
    cls = getattr(mmcv.ops, name)
    with pytest.raises(MmcvOpsUnavailableError, match='full mmcv') as err:
        cls(16, 16, 3)
    assert name in str(err.value)


def test_other_ops_raise_import_error_naming_the_op():
    from sadinet_mmpose.compat import mmcv_ops_available
    if mmcv_ops_available():
        pytest.skip('full mmcv installed')
    with pytest.raises(ImportError, match='RoIAlign.*full mmcv'):
        from mmcv.ops import RoIAlign  # noqa: F401


def test_mmpose_edpose_head_fails_clearly_when_built():
    """A stock model that really needs an mmcv op gets the install hint."""
    from sadinet_mmpose.compat import (MmcvOpsUnavailableError,
                                       mmcv_ops_available)
    if mmcv_ops_available():
        pytest.skip('full mmcv installed')
    import mmcv.ops
    with pytest.raises(MmcvOpsUnavailableError, match='mmcv-lite'):
        mmcv.ops.MultiScaleDeformableAttention(embed_dims=256)


def test_nothing_patched_with_full_mmcv(tmp_path):
    """Simulate full mmcv (an importable ``mmcv._ext``): no stand-in."""
    # A stand-in extension that answers every symbol mmcv.ops looks up.
    (tmp_path /
     '_ext.py').write_text('def __getattr__(name):\n'
                           '    if name.startswith("__"):\n'
                           '        raise AttributeError(name)\n'
                           '    return lambda *args, **kwargs: None\n')
    proc = _run(f'''
        import sys
        import mmcv
        mmcv.__path__.append({str(tmp_path)!r})
        from sadinet_mmpose.compat.mmcv_lite import mmcv_ops_available
        assert mmcv_ops_available()
        import sadinet_mmpose
        mod = sys.modules.get('mmcv.ops')
        assert mod is None or not getattr(mod, 'is_sadinet_placeholder',
                                          False), mod
        from sadinet_mmpose.compat import install_mmcv_op_placeholders
        assert install_mmcv_op_placeholders() is False
        import mmpose.models  # the real mmcv.ops serves mmpose
        from mmcv.ops import MultiScaleDeformableAttention as M
        assert not getattr(M, 'is_sadinet_placeholder', False)
        print('UNPATCHED')
    ''')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'UNPATCHED' in proc.stdout


def test_stand_in_is_idempotent():
    from sadinet_mmpose.compat import (install_mmcv_op_placeholders,
                                       mmcv_ops_available)
    if mmcv_ops_available():
        pytest.skip('full mmcv installed')
    import mmcv.ops
    before = mmcv.ops
    assert install_mmcv_op_placeholders() is True
    import mmcv.ops as after
    assert after is before


def test_startup_hook_serves_stock_scripts_without_the_plugin():
    """The setup's .pth hook: ``import mmpose.models`` first works on
    mmcv-lite,
    loading only mmcv_lite (not the whole plugin) in the middle of it."""
    import sysconfig

    from sadinet_mmpose.compat import mmcv_ops_available
    if mmcv_ops_available():
        pytest.skip('full mmcv installed')
    pth = os.path.join(sysconfig.get_paths()['purelib'],
                       'sadinet_mmcv_lite.pth')
    if not os.path.exists(pth):
        pytest.skip('environment not made by tools/setup_env.sh')
    proc = _run('''
        import sys
        import mmpose.models
        import mmcv.ops
        assert mmcv.ops.is_sadinet_placeholder
        assert 'sadinet_mmpose' not in sys.modules, \
            'the hook must not import the plugin'
        import sadinet_mmpose
        print('HOOK OK')
    ''')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'HOOK OK' in proc.stdout
