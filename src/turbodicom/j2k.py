"""Codestream-level JPEG 2000 decoding: turbodicom's own Part 1 decoder on a bare codestream.

For non-DICOM use and the conformance tests.  DICOM frames go through :func:`turbodicom.decode`
and friends, which pick the engine per transfer syntax (see :func:`turbodicom.features`).

>>> import turbodicom.j2k
>>> arr = turbodicom.j2k.decode(open("image.j2k", "rb").read())  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from turbodicom.codecs import j2k_output_limit
from turbodicom.decode import default_threads

__all__ = ["decode", "read_header", "release_memory"]


_DTYPES: dict[tuple[int, bool], np.dtype[Any]] = {}


def _dtype(precision: int, is_signed: bool) -> np.dtype[Any]:
    dt = _DTYPES.get((precision, is_signed))
    if dt is None:
        nbytes = 1 if precision <= 8 else 2 if precision <= 16 else 4
        dt = _DTYPES[precision, is_signed] = np.dtype(f"<{'i' if is_signed else 'u'}{nbytes}")
    return dt


def read_header(codestream: Any, *, reduce: int = 0) -> dict[str, Any]:
    """The main-header facts of a JPEG 2000 codestream or JP2/JPH file.

    Parameters
    ----------
    codestream : bytes-like
        A raw codestream (starting with SOC, SIZ) or a JP2 / JPH file.
    reduce : int, optional
        The per-component geometry in ``component_info`` is for this many discarded
        resolution levels.

    Returns
    -------
    dict
        ``rows``, ``columns``, ``components``, ``precision``, ``is_signed``, ``reversible``,
        ``mct``, ``layers``, ``progression_order``, ``decomposition_levels``, ``tiles``,
        ``component_info`` (a list of dicts: ``rows``, ``columns``, ``precision``,
        ``is_signed``, ``dx``, ``dy``) and more.
    """
    from turbodicom import _j2kdec

    return _j2kdec.read_header(codestream, reduce)


def release_memory() -> None:
    """Free the working memory the decoder keeps between decodes.

    Decoding frame after frame reuses the coefficient buffers and code-block scratch of the
    previous frames (warm memory, no page faults); the cache is process-wide, bounded by a
    small multiple of the largest recent frame's buffers and by 128 MiB, and freed by this
    call (e.g. after decoding a large series in a long-running process).
    """
    from turbodicom import _j2kdec

    _j2kdec.release_memory()


def decode(codestream: Any, *, reduce: int = 0, layers: int | None = None,
           threads: int | None = None, strict: bool = False) -> np.ndarray | list[np.ndarray]:
    """Decode a JPEG 2000 Part 1 or HTJ2K (Part 15) codestream (or JP2 / JPH file) into numpy.

    Parameters
    ----------
    codestream : bytes-like
        The codestream or JP2 / JPH file.
    reduce : int, optional
        Discard this many resolution levels (each halves the size); 0 decodes full size.
    layers : int or None, optional
        Decode only the first ``layers`` quality layers (a quick preview); None decodes all.
    threads : int or None, optional
        Threads decoding the code-blocks of a tile in parallel; None uses every core this
        process may run on.  The GIL is released throughout.
    strict : bool, optional
        Raise ``DecodeError`` when the codestream ends before its last packet.  By default
        such a stream decodes what is present (code-blocks cut at the end decode as zeros),
        as OpenJPEG does.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        ``(rows, columns)`` for one component, ``(rows, columns, components)`` when every
        component has the same size, precision and signedness; otherwise a list with one
        ``(rows, columns)`` array per component.  The dtype is the smallest of uint8/int8,
        uint16/int16, uint32/int32 holding the precision.

    Raises
    ------
    turbodicom.DecodeError
        The codestream is corrupt (a damaged code-block included), or truncated before its
        first tile (anywhere, with ``strict=True``).
    turbodicom.UnsupportedError
        Precision above 32 bits, or ``reduce``
        beyond the decomposition levels.
    turbodicom.LimitError
        The image would exceed ``turbodicom.frames.MAX_OUTPUT_BYTES``, or a tile 2^30
        samples.
    """
    from turbodicom import _j2kdec

    if reduce < 0:
        raise ValueError(f"reduce must be >= 0, got {reduce}")
    if layers is not None and layers < 1:
        raise ValueError(f"layers must be >= 1 or None, got {layers}")
    nthreads = default_threads() if threads is None else max(1, int(threads))
    out, comps, same, bps = _j2kdec.decode_new(codestream, reduce=reduce, layers=layers or 0,
                                               threads=nthreads, strict=strict,
                                               limit=j2k_output_limit)
    rows, columns, precision, signed = comps[0]
    if same:
        arr = np.frombuffer(out, _dtype(precision, signed))
        if len(comps) == 1:
            return arr.reshape(rows, columns)
        return arr.reshape(rows, columns, len(comps))
    arrays = []
    offset = 0
    for rows, columns, precision, signed in comps:
        n = rows * columns
        container = np.dtype(f"<{'i' if signed else 'u'}{bps}")
        plane = np.frombuffer(out, container, count=n, offset=offset)
        arrays.append(plane.reshape(rows, columns).astype(_dtype(precision, signed)))
        offset += n * bps
    return arrays
