"""Apply a patch to an upstream module as soon as it is imported.

Used by the patches that must not import their target module (and what it
pulls in: torchvision, mmdet) when ``sadinet_mmpose`` is imported.
"""
import importlib.abc
import importlib.util
import sys
from typing import Callable


class _PatchAfterLoad(importlib.abc.Loader):
    """Run the module's own loader, then the patch on the new module."""

    def __init__(self, loader, patch: Callable):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name):  # get_source, get_filename, ...
        return getattr(self._loader, name)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds one module the usual way; patches it once loaded."""

    def __init__(self, module_name: str, patch: Callable):
        self.module_name = module_name
        self._patch = patch

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module_name:
            return None
        sys.meta_path.remove(self)  # one shot, and no recursion
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchAfterLoad(spec.loader, self._patch)
        return spec


def patch_on_import(module_name: str, patch: Callable) -> None:
    """Call ``patch(module)`` now if ``module_name`` is imported, else right
    after its first import (one hook per module; nothing is imported here).

    Args:
        module_name (str): The dotted name of the upstream module.
        patch (Callable): Takes the module object; must be idempotent.
    """
    if module_name in sys.modules:
        patch(sys.modules[module_name])
        return
    if not any(
            isinstance(f, _PatchOnImport) and f.module_name == module_name
            for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport(module_name, patch))
