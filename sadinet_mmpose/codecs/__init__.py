# Filled in by the owner of this sub-package: import and export its classes.
__all__ = []
