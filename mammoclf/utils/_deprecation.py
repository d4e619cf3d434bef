"""Deprecated aliases of names that moved to another module."""

import importlib
import warnings

__all__ = ["deprecated_alias_module", "deprecated_module_getattr"]


def deprecated_module_getattr(module, new_module, names):
    """A module ``__getattr__`` that serves ``names`` from ``new_module``.

    Each access emits a :class:`FutureWarning` naming the new import path.
    The new module is imported on first access only (by name, so the old
    module does not import it when it is itself imported), which keeps a
    lower layer from importing a higher one at import time.

    Parameters
    ----------
    module : str
        The old module's ``__name__``.
    new_module : str
        The module the names now live in.
    names : iterable of str
        The names that moved.

    Returns
    -------
    __getattr__ : callable
        Assign it to the old module's ``__getattr__``.

    Examples
    --------
    >>> import warnings
    >>> getter = deprecated_module_getattr("old", "math", ("pi",))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = getter("pi")
    >>> round(value, 2), caught[0].category.__name__
    (3.14, 'FutureWarning')
    """
    moved = frozenset(names)

    def __getattr__(name):
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(
            f"{module}.{name} moved to {new_module}.{name}; the old name is "
            "deprecated and will be removed in the next release.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new_module), name)

    return __getattr__


def deprecated_alias_module(old, new, module):
    """Warn that ``old`` is deprecated in favour of ``new``; return ``module``.

    For a method kept for one release as an alias of a function that lives in
    a higher layer: the module is imported by name, when the alias is called,
    so the lower layer's code never imports the higher one (an ``import``
    statement there would be an upward import, even inside the method).

    Parameters
    ----------
    old : str
        The deprecated call, as users wrote it.
    new : str
        What to write instead.
    module : str
        The module that holds the new function.

    Returns
    -------
    module : module
        ``module``, imported.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     math = deprecated_alias_module("area(r)", "math.pi * r**2", "math")
    >>> round(math.pi, 2), caught[0].category.__name__
    (3.14, 'FutureWarning')
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}.",
        FutureWarning,
        stacklevel=3,
    )
    return importlib.import_module(module)
