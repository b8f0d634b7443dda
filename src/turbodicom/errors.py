"""turbodicom's exception hierarchy.

Every error turbodicom raises derives from :class:`TurboDicomError`.  The concrete classes also
derive from the standard exception a caller would naturally catch, so ``except ValueError`` keeps
working for bad data and ``except NotImplementedError`` for unsupported features (pydicom's
plugin machinery relies on both).
"""

from __future__ import annotations

__all__ = [
    "TurboDicomError",
    "DecodeError",
    "UnsupportedError",
    "ScanError",
    "LimitError",
    "error_from_status",
]


class TurboDicomError(Exception):
    """Base class of every turbodicom error."""


class DecodeError(TurboDicomError, ValueError):
    """The data is malformed, truncated or contradicts its own description."""


class UnsupportedError(TurboDicomError, NotImplementedError):
    """The data is valid but uses a feature this build does not decode."""


class ScanError(DecodeError):
    """A file could not be scanned for tags."""


class LimitError(DecodeError):
    """Decoding would exceed a resource limit (output size, inflated size, ...)."""


# C status codes of csrc/td.h.
_OK = 0
_E_TRUNCATED = -1
_E_CORRUPT = -2
_E_UNSUPPORTED = -3
_E_OUTPUT_TOO_SMALL = -4
_E_NOMEM = -5
_E_BACKEND = -6
_E_LIMIT = -7
_E_INVALID_ARGUMENT = -100


def error_from_status(status: int, message: str, offset: int = -1, what: str = "") -> Exception:
    """Return the exception for a C status code; the single status-to-exception mapping.

    Parameters
    ----------
    status : int
        A negative ``TD_E_*`` code from a C kernel.
    message : str
        The kernel's specific message (may be empty).
    offset : int
        Byte offset in the input where the problem was found, or -1.
    what : str
        The generic description of the status (``td_strerror``), used when `message` is empty.
    """
    text = message or what or f"status {status}"
    if status == _E_UNSUPPORTED:
        return UnsupportedError(text)
    if status == _E_NOMEM:
        return MemoryError(text)
    if status == _E_LIMIT:
        return LimitError(text)
    if status == _E_INVALID_ARGUMENT:
        return ValueError(f"invalid argument: {text}")
    return DecodeError(text)
