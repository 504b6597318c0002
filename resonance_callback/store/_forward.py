"""A façade's method that is its writer's (or a writer's collaborator's) method, typed as it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["forward"]

P = ParamSpec("P")
R = TypeVar("R")


class Forward(Generic[P, R]):
    """``façade.name(...)`` calls ``façade._writer[.via].name(...)``; see :func:`forward`."""

    def __init__(self, method: Callable[..., R], via: str) -> None:
        self.name = method.__name__
        self.via = via
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type) -> Forward[P, R]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> Callable[P, R]: ...

    def __get__(self, obj: object, owner: type) -> Forward[P, R] | Callable[P, R]:
        """The bound method of the façade's writer (this descriptor on the class)."""
        if obj is None:
            return self
        target: Any = obj._writer  # type: ignore[attr-defined]
        if self.via:
            target = getattr(target, self.via)
        method: Callable[P, R] = getattr(target, self.name)
        return method


def forward(method: Callable[Concatenate[Any, P], R], via: str = "") -> Forward[P, R]:
    """The façade's member calling ``method`` of its ``_writer`` (of ``_writer.{via}``).

    Parameters
    ----------
    method : function
        The method, taken from its class (``RowWriter.write_run``): its name,
        parameters, return type and docstring are the façade's.
    via : str, optional
        The writer's collaborator that has the method (``"derived"``, ``"records"``).
    """
    return Forward(method, via)
