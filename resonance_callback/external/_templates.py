"""The parameters of a detector-file reference, checked before anything is expanded or read.

A ``resource``'s ``resource_kwargs`` and a ``stream_resource``'s ``parameters``
come from the document, so from whoever published it. Before a handler is built
or a file name is formed:

* a file ``template`` is parsed, never trusted to ``%`` or ``str.format``:
  printf-style (area detector's ``"%s%s_%6.6d.tiff"``) takes plain conversions
  with a field width and precision of at most :data:`MAX_FIELD_WIDTH`, no ``*``
  width, no ``%(name)`` key and no ``%c``; new-style (``"_{:06d}.tif"``) takes
  only the positional index (``{}`` / ``{0}``), refusing attribute and index
  access (``{0.__class__}``, ``{0[0]}``), named and nested fields, and the same
  widths. A template longer than :data:`PATH_MAX` is refused;
* every name built from a template is at most :data:`PATH_MAX` bytes, each of
  its components at most :data:`NAME_MAX` bytes, without a NUL;
* ``frame_per_point`` / ``multiplier`` is an integer from 1 to
  :data:`MAX_FRAMES_PER_POINT`; ``chunk_shape`` a list of at most
  :data:`MAX_DIMS` integers from 1 to ``MAX_FRAME_INDEX + 1``; ``join_method``
  ``"stack"`` or ``"concat"``.

A parameter that fails raises :class:`~resonance_callback.errors.MalformedReferenceError`
naming the document and the value: no wait makes it usable.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from typing import Any

from resonance_callback._confine import within
from resonance_callback.errors import MalformedReferenceError, UnsafePathError
from resonance_callback.external._common import MAX_FRAME_INDEX, _refuse_traversal

PATH_MAX = 4096
"""The most bytes a path built from a template (or named by a document) may have."""

NAME_MAX = 255
"""The most bytes one component of such a path may have."""

MAX_FIELD_WIDTH = 64
"""The largest field width or precision a template conversion may ask for."""

MAX_FRAMES_PER_POINT = 1_000_000
"""The largest ``frame_per_point`` (or ``multiplier``) a resource may declare."""

MAX_DIMS = 32
"""The most dimensions a ``chunk_shape`` may have."""

JOIN_METHODS = frozenset({"stack", "concat"})
"""The ``join_method`` values of bluesky's consolidators."""

_PRINTF = re.compile(
    r"%(?P<key>\([^)]*\))?(?P<flags>[-#0 +]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?"
    r"(?P<length>[hlL])?(?P<conv>.?)", re.DOTALL)
_PRINTF_CONVERSIONS = frozenset("diouxXeEfFgGrsa%")
_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<prec>\d+))?"
                   r"(?P<type>[bdeEfFgGnosxX%]?)", re.DOTALL)


def _refuse(where: str, template: str, why: str) -> MalformedReferenceError:
    shown = template if len(template) <= 200 else f"{template[:200]}... ({len(template)} chars)"
    return MalformedReferenceError(f"{where}: template {shown!r} {why}; refused")


def _bounded(value: str | None, where: str, template: str, what: str) -> None:
    if value and value != "*" and (len(value) > 3 or int(value) > MAX_FIELD_WIDTH):
        raise _refuse(where, template, f"asks for a {what} of {value} (at most "
                                       f"{MAX_FIELD_WIDTH})")


def _printf_conversions(template: str, where: str) -> int:
    """Check a printf-style template; return how many arguments it takes."""
    taken = 0
    for match in _PRINTF.finditer(template):
        conv = match["conv"]
        if not conv:
            raise _refuse(where, template, "ends in an unfinished '%' conversion")
        if conv not in _PRINTF_CONVERSIONS:
            raise _refuse(where, template, f"has the conversion %{conv!s} (not a number or "
                                           "string conversion)")
        if conv == "%":
            if match.group(0) != "%%":
                raise _refuse(where, template, "has a malformed '%%'")
            continue
        if match["key"] is not None:
            raise _refuse(where, template, "names a mapping key (%(name)...)")
        if "*" in (match["width"], match["prec"]):
            raise _refuse(where, template, "takes its field width from an argument ('*')")
        _bounded(match["width"], where, template, "field width")
        _bounded(match["prec"], where, template, "precision")
        taken += 1
    return taken


def _format_fields(template: str, where: str) -> int:
    """Check a new-style template; return how many replacement fields it has."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise _refuse(where, template, f"does not parse ({exc})") from exc
    fields = 0
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in ("", "0"):
            why = ("reaches an attribute or item of its argument"
                   if any(c in name for c in ".[") else f"names the field {name!r}")
            raise _refuse(where, template, f"{why} (only {{}} or {{0}}: the index)")
        if conversion not in (None, "s", "r", "a"):
            raise _refuse(where, template, f"has the conversion !{conversion}")
        match = _SPEC.fullmatch(spec or "")
        if match is None or "{" in (spec or ""):
            raise _refuse(where, template, f"has the format spec {spec!r} (not a plain "
                                           "width, precision and number type)")
        _bounded(match["width"], where, template, "field width")
        _bounded(match["prec"], where, template, "precision")
        fields += 1
    return fields


def printf_arguments(template: str, filename: str, index: int) -> tuple[Any, ...]:
    """The arguments of a printf-style template: as many ``%s`` before the index as it has."""
    args: dict[int, tuple[Any, ...]] = {2: ("", filename, index), 1: (filename, index),
                                        0: (index,)}
    return args[min(template.count("%s"), 2)]


def check_template(template: Any, where: str, filename: Any = "") -> str:
    """Return ``template`` after checking it can only build a bounded file name.

    Raises
    ------
    MalformedReferenceError
        Not a string, too long, an oversized width or precision, attribute or
        index access, a field other than the index, or arguments it cannot take.
    """
    if not isinstance(template, str):
        raise MalformedReferenceError(f"{where}: template {template!r} is not a string")
    if len(template) > PATH_MAX:
        raise _refuse(where, template, f"is longer than {PATH_MAX} characters")
    if not isinstance(filename, str) or len(filename) > PATH_MAX:
        raise MalformedReferenceError(
            f"{where}: filename is not a string of at most {PATH_MAX} characters")
    if "{" in template:
        if _format_fields(template, where) == 0:
            raise _refuse(where, template, "has no field for the index")
    else:
        wanted = len(printf_arguments(template, filename, 0))
        if _printf_conversions(template, where) != wanted:
            raise _refuse(where, template, f"does not take {wanted} argument(s) (directory, "
                                           "filename, index)")
    return template


def check_name(name: str, where: str, template: str) -> str:
    """Refuse a name built from ``template`` that no file system would open."""
    if "\x00" in name:
        raise _refuse(where, template, "builds a name with a NUL character")
    if len(name.encode("utf-8", "surrogatepass")) > PATH_MAX:
        raise _refuse(where, template, f"builds a name longer than {PATH_MAX} bytes")
    for part in name.split("/"):
        if len(part.encode("utf-8", "surrogatepass")) > NAME_MAX:
            raise _refuse(where, template, f"builds a file name component longer than "
                                           f"{NAME_MAX} bytes")
    return name


def check_path_length(path: str, where: str) -> None:
    """Refuse a path a document names that is longer than any file system opens."""
    if len(path.encode("utf-8", "surrogatepass")) > PATH_MAX or any(
            len(part.encode("utf-8", "surrogatepass")) > NAME_MAX for part in path.split("/")):
        shown = path if len(path) <= 200 else f"{path[:200]}... ({len(path)} chars)"
        raise MalformedReferenceError(
            f"{where}: path {shown!r} is longer than {PATH_MAX} bytes or has a component "
            f"longer than {NAME_MAX}; refused")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_count(value: Any, name: str, where: str, largest: int = MAX_FRAMES_PER_POINT) -> int:
    """Return a positive integer count (frames per point or per file) at most ``largest``."""
    if not _is_int(value) or not 1 <= value <= largest:
        raise MalformedReferenceError(
            f"{where}: {name}={value!r} is not an integer from 1 to {largest}; refused")
    return int(value)


def check_chunk_shape(value: Any, where: str) -> tuple[int, ...]:
    """Return a ``chunk_shape`` as a tuple of positive ints (at most :data:`MAX_DIMS` of them)."""
    if not isinstance(value, list | tuple) or len(value) > MAX_DIMS:
        raise MalformedReferenceError(
            f"{where}: chunk_shape {value!r} is not a list of at most {MAX_DIMS} sizes; refused")
    for size in value:
        check_count(size, "chunk_shape size", where, MAX_FRAME_INDEX + 1)
    return tuple(int(size) for size in value)


def check_parameters(parameters: Mapping[str, Any], where: str) -> None:
    """Check the reference parameters a resource or stream resource gives, before any use.

    ``template`` (with ``filename``; the name it builds for the largest index
    too), ``frame_per_point``, ``multiplier``, ``chunk_shape`` and
    ``join_method`` are checked when present.

    Raises
    ------
    MalformedReferenceError
        Naming ``where``, the parameter and its value.
    """
    if "template" in parameters:
        template, filename = parameters["template"], parameters.get("filename") or ""
        check_template(template, where, filename)
        _format_template(template, filename, MAX_FRAME_INDEX, where)  # the longest name
    for name in ("frame_per_point", "multiplier"):
        if parameters.get(name) is not None:
            check_count(parameters[name], name, where)
    if parameters.get("chunk_shape") is not None:
        check_chunk_shape(parameters["chunk_shape"], where)
    method = parameters.get("join_method", "stack")
    if not isinstance(method, str) or method not in JOIN_METHODS:
        shown = method if isinstance(method, str) and len(method) <= 100 else type(method).__name__
        raise MalformedReferenceError(
            f"{where}: join_method {shown!r} is not one of {sorted(JOIN_METHODS)}; refused")


def _format_template(template: str, filename: str, index: int, where: str) -> str:
    """Build one file name from an image-sequence template, checked before and after.

    New-style templates (``"blob_{:06d}.tiff"``, what ophyd-async emits) are
    formatted with the index; printf-style ones (area-detector's
    ``"%s%s_%6.6d.tiff"``) get an empty directory, ``filename`` and the index.
    """
    check_template(template, where, filename)
    try:
        if "{" in template:
            name = template.format(index)
        else:
            name = template % printf_arguments(template, filename, index)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise MalformedReferenceError(
            f"{where}: cannot build a file name from template {template!r}: {exc}"
        ) from exc
    return check_name(name, where, template)


def sequence_file(base: str, template: str, filename: str, number: int, where: str) -> str:
    """The path of file ``number`` of an image or array sequence.

    A printf-style template (area detector's ``"%s%s_%6.6d.tiff"``) is
    formatted as area detector formats it, ``template % (base + "/", filename,
    number)``, so a leading ``/`` (``"/%s%s_%5.5d.tif"``) or a ``filename``
    starting with ``/`` only doubles a separator; with one ``%s`` it is
    ``template % (filename, number)`` under ``base``. A
    new-style one (``"_{:d}.tif"``) is formatted with ``number`` and appended
    to ``base`` as TiledWriter does: under it when ``base`` is a directory or
    the name starts with ``/``, else after it (``base`` is then a file stem).
    The template is checked first (:func:`check_template`); the name may not
    have a ``..`` component, leave the directory, nor exceed :data:`PATH_MAX`.
    """
    base = os.path.normpath(base)
    if "{" not in template:
        directory = base
        name = _format_template(template, filename, number, where)
        if len(printf_arguments(template, filename, number)) == 3:
            # as area detector writes it: template % (directory + "/", filename, n); a
            # leading "/" ("/%s%s_%5.5d.tif") then only doubles a separator
            path = template % (os.path.join(directory, ""), filename, number)
            _refuse_traversal(path, where)
            path = os.path.normpath(path)
            path = "/" + path.lstrip("/") if path.startswith("/") else path
        else:
            path = os.path.join(directory, name.lstrip("/"))
    else:
        tail = _format_template(template, filename, number, where)
        if tail.startswith("/") or os.path.isdir(base):
            directory, path = base, os.path.join(base, tail.lstrip("/"))
        else:
            directory, path = os.path.dirname(base), base + tail
    check_name(path, where, template)
    _refuse_traversal(path, where)
    if within(path, directory, resolve=False) is None:
        raise UnsafePathError(f"{where}: template {template!r} gives {path!r}, outside the "
                              f"directory {directory!r}")
    return path
