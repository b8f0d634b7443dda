/* td_status.c - status strings and the td_error helpers declared in td.h. */
#include "td.h"

#include <stdarg.h>
#include <stdio.h>

const char *td_strerror(int status)
{
    switch (status) {
    case TD_OK: return "success";
    case TD_E_TRUNCATED: return "truncated input";
    case TD_E_CORRUPT: return "corrupt input";
    case TD_E_UNSUPPORTED: return "unsupported feature";
    case TD_E_OUTPUT_TOO_SMALL: return "output buffer too small";
    case TD_E_NOMEM: return "out of memory";
    case TD_E_BACKEND: return "codec library error";
    case TD_E_LIMIT: return "resource limit exceeded";
    case TD_E_INVALID_ARGUMENT: return "invalid argument";
    default: return "unknown error";
    }
}

int td_fail(td_error *err, int status, int64_t offset, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->status = status;
        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void td_error_clear(td_error *err)
{
    if (err != NULL) {
        err->status = TD_OK;
        err->offset = -1;
        err->message[0] = '\0';
    }
}
