"""Errors that are the user's to fix.

Anything raised as :class:`UserError` is printed by the ``versebert`` command line as a one-line
message (no traceback), because it describes bad input or a missing install, not a bug.
"""


class UserError(ValueError):
    """Bad input or a missing optional dependency, explained in a sentence the user can act on."""


def require(module: str, extra: str):
    """Import ``module`` or raise a :class:`UserError` naming the pip extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise UserError(f"{module!r} is not installed; install it with: pip install 'versebert[{extra}]'") from error
