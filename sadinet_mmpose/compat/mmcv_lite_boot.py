"""Start-up hook: mmcv-lite placeholders for scripts that import mmpose first.

MMPose's stock scripts that import ``mmpose.apis`` / ``mmpose.models`` before
reading a config (``tools/analysis_tools/get_flops.py``,
``demo/image_demo.py``, ...) never reach the config's ``custom_imports``, so
on mmcv-lite they die on ``mmcv._ext``. ``tools/setup_env.sh`` puts a
``sadinet_mmcv_lite.pth`` file into the environment's site-packages which
executes this file at interpreter start-up. It only registers a tiny import
hook (no import of torch or mmcv at start-up): the first ``import mmcv.ops``
then calls :func:`sadinet_mmpose.compat.mmcv_lite.install_mmcv_op_placeholders`
when, and only when, mmcv's compiled ops are missing. This file is executed
with ``exec``; it must stay free of heavy imports.

Upstream: mmcv-lite 2.1.0 under MMPose 1.3.2 (stock scripts that import
``mmpose`` before a config).
Drop when: with :mod:`.mmcv_lite`.
"""
import importlib.abc
import importlib.util
import sys

_COMPAT = 'sadinet_mmpose.compat.mmcv_lite'


def _load_compat():
    """``mmcv_lite`` alone, without importing the whole plugin package.

    Importing ``sadinet_mmpose`` here would import mmpose in the middle of
    mmpose's own import; the module is loaded from the file next to this one
    and registered under its package name, so a later
    ``import sadinet_mmpose`` reuses it.
    """
    if _COMPAT in sys.modules:
        return sys.modules[_COMPAT]
    here = globals().get('__file__')
    if here is None:  # imported normally, not exec'd by the .pth line
        return importlib.import_module(_COMPAT)
    import os.path
    spec = importlib.util.spec_from_file_location(
        _COMPAT, os.path.join(os.path.dirname(here), 'mmcv_lite.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[_COMPAT] = module
    spec.loader.exec_module(module)
    return module


class _MmcvOpsHook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serve the ``mmcv.ops`` stand-in on mmcv-lite; stay out of the way
    else."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'mmcv.ops':
            return None
        sys.meta_path.remove(self)  # one shot, and no recursion
        try:
            if importlib.util.find_spec('mmcv._ext') is not None:
                return None  # full mmcv: the real mmcv.ops
        except (ImportError, ValueError):
            pass
        _load_compat().install_mmcv_op_placeholders()
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return sys.modules['mmcv.ops']

    def exec_module(self, module):
        pass


_installed = False
for _finder in sys.meta_path:
    if type(_finder).__name__ == '_MmcvOpsHook':
        _installed = True
if not _installed:
    sys.meta_path.insert(0, _MmcvOpsHook())
