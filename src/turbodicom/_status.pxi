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
