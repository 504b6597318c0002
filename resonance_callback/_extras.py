"""Optional parts of the library: turn a missing package into one line naming its extra."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from resonance_callback.errors import MissingExtraError


@contextmanager
def needs_extra(extra: str, package: str, purpose: str) -> Iterator[None]:
    """Import an optional package inside this block, or raise :class:`MissingExtraError`.

    The imports stay ordinary (typed) import statements::

        with needs_extra("plot", "matplotlib", "plotting"):
            from matplotlib.figure import Figure

    Parameters
    ----------
    extra : str
        The extra of ``resonance-callback`` that installs the package.
    package : str
        The package's name on PyPI, as the user would install it.
    purpose : str
        What needs it, to start the message ("plotting", "reading JPEG files").

    Raises
    ------
    MissingExtraError
        A module imported in the block is not installed, e.g.
        ``plotting needs matplotlib: pip install 'resonance-callback[plot]'``.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            f"{purpose} needs {package}: pip install 'resonance-callback[{extra}]'",
            name=exc.name,
        ) from exc
