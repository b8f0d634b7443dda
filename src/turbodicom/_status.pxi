# Included by every extension: the one bridge from a C status to a Python exception.
# The mapping itself lives in turbodicom.errors.error_from_status (one place for all modules).
from turbodicom.errors import error_from_status as _error_from_status


cdef int check(int rc, td_error *err) except -1:
    """Raise the turbodicom exception for a failed C call (rc < 0); return 0 on success."""
    if rc >= 0:
        return 0
    cdef bytes msg = err.message if err != NULL else b""
    cdef long long offset = err.offset if err != NULL else -1
    raise _error_from_status(rc, msg.decode("utf-8", "replace"), offset,
                             td_strerror(rc).decode("ascii"))


cdef uint8_t _EMPTY[1]


cdef inline const uint8_t *cptr(const uint8_t[::1] b) noexcept nogil:
    """Pointer to a buffer's first byte; a valid zero-length pointer for an empty buffer, so
    the kernel reports empty data as truncated rather than as a caller bug (NULL)."""
    return &b[0] if b.shape[0] else _EMPTY


cdef inline uint8_t *wptr(uint8_t[::1] b) noexcept nogil:
    return &b[0] if b.shape[0] else _EMPTY
