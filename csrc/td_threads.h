/*
 * td_threads.h - a parallel loop for work items that release the GIL once for all of them
 * (the frames of one multi-frame decode), instead of a Python thread pool's hand-off per item.
 */
#ifndef TD_THREADS_H
#define TD_THREADS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Run fn(arg) on `threads` threads at once, the caller's and threads - 1 it starts (fewer when
 * a thread cannot be started; at most 64), and return when every one has returned: fn takes
 * its own work from what arg shares (a counter), so it may also find none. */
void td_parallel_run(uint32_t threads, void (*fn)(void *arg), void *arg);

/* Call fn(ctx, i) once for every i in [0, n), on up to `threads` threads: the caller's and
 * threads - 1 it starts (fewer when n is smaller or a thread cannot be started; the caller
 * alone when threads <= 1).  Items are taken in increasing order from a shared counter, so a
 * thread that finishes early takes the next one.  Returns when every call has returned.
 * fn must be safe to run concurrently with itself on different items. */
void td_parallel_for(size_t n, uint32_t threads, void (*fn)(void *ctx, size_t i), void *ctx);

#ifdef __cplusplus
}
#endif

#endif
