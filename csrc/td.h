/*
 * td.h - turbodicom's C conventions: status codes and the caller-owned error record.
 *
 * Every fallible function in csrc/ returns an int status: TD_OK (0) on success, a negative
 * TD_E_* value otherwise.  Values -1..-99 describe bad *data* (the input is truncated, corrupt,
 * uses a feature we do not implement, or the caller's output buffer is too small); values from
 * -100 down describe caller bugs (a NULL pointer, an impossible argument).  This split follows
 * CharLS's charls_jpegls_errc.
 *
 * An optional td_error (NULL allowed everywhere) receives a specific message and the byte offset
 * in the input where the problem was found, e.g. "RLE segment 3 offset 4120 is beyond the
 * frame's 4096 bytes".  Kernels never allocate their output, hold no global state and are
 * reentrant: the caller may run any number of them at once on different threads.
 */
#ifndef TD_H
#define TD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_status {
    TD_OK = 0,
    TD_E_TRUNCATED = -1,        /* the input ends before the structure it describes */
    TD_E_CORRUPT = -2,          /* the input contradicts itself or the standard */
    TD_E_UNSUPPORTED = -3,      /* valid, but a feature this build does not decode */
    TD_E_OUTPUT_TOO_SMALL = -4, /* the caller's output buffer cannot hold the result */
    TD_E_NOMEM = -5,            /* a working allocation failed */
    TD_E_BACKEND = -6,          /* a third-party library (OpenJPEG, ...) reported failure */
    TD_E_LIMIT = -7,            /* the result would exceed a configured resource limit */
    TD_E_INVALID_ARGUMENT = -100 /* caller bug: NULL pointer or impossible parameter */
} td_status;

#define TD_ERROR_MESSAGE_SIZE 256

/* Caller-owned error record.  offset is the byte offset in the input, or -1 if unknown. */
typedef struct td_error {
    int status;
    int64_t offset;
    char message[TD_ERROR_MESSAGE_SIZE];
} td_error;

/* A short constant description of a status ("truncated input", ...). Never NULL. */
const char *td_strerror(int status);

/* Fill *err (if not NULL) with status, offset and a printf-style message; returns status so a
 * kernel can write `return td_fail(err, TD_E_CORRUPT, pos, "...", ...);`. */
int td_fail(td_error *err, int status, int64_t offset, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Reset *err (if not NULL) to TD_OK with an empty message. */
void td_error_clear(td_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TD_H */
