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

/* Run fn(arg) on the caller's thread and on up to threads - 1 helpers (at most 63) from a
 * process-wide set of worker threads kept between calls (waiting awake for 0.5 ms after
 * each job, then asleep), and return when every call has returned.  A helper may join while the caller's fn runs, late or not at all, so fn
 * takes its own work from what arg shares (a counter) and may also find none; fn must never
 * wait for another call of itself.  A call from inside fn (nested: the frames of a batch
 * decoded with threads inside) gets only workers that are or become idle, and the threads of
 * a call that run out of work help its nested calls.  threads <= 1: fn(arg) on the caller's
 * thread alone.  Safe to call from several threads at once. */
void td_parallel_run(uint32_t threads, void (*fn)(void *arg), void *arg);

/* A call of td_parallel_run(threads, ...) is coming soon (after some serial work of the
 * caller's): wake up to threads - 1 sleeping workers now, to wait for it awake (0.5 ms), so
 * that their wake-up (tens of microseconds) overlaps that work.  Cheap when none sleep. */
void td_parallel_prewake(uint32_t threads);

/* The CPUs this process may run on (its affinity mask; found once). */
uint32_t td_cpu_count(void);

/* The monotonic clock in nanoseconds, and one turn's pause of a loop that waits awake (x86
 * PAUSE, aarch64 YIELD): for the waits that spin before they sleep (the workers here, the
 * JPEG 2000 decoder's work queues). */
int64_t td_now_ns(void);
void td_cpu_relax(void);

/* A wait awake for up to ns nanoseconds: td_spin_start, then one td_spin_turn per test of
 * the awaited condition (a pause), which returns 0 once the time is up.  Every few
 * microseconds a turn also yields the CPU (sched_yield): the scheduler may wake a thread of
 * ours onto the CPU of the one waiting awake (a caller whose helper has just finished, on a
 * machine of 2 vCPUs: wake-affine placement), where it would otherwise wait for the end of
 * that wait, since a thread that ran recently is not moved to the idle CPU for 0.5 ms. */
typedef struct td_spin {
    int64_t until, next_yield;
    unsigned turn;
} td_spin;
void td_spin_start(td_spin *s, int64_t ns);
int td_spin_turn(td_spin *s);

/* Call fn(ctx, i) once for every i in [0, n), on up to `threads` threads: the caller's and
 * up to threads - 1 helpers of td_parallel_run (fewer when n is smaller; the caller alone
 * when threads <= 1).  Items are taken in increasing order from a shared counter, so a
 * thread that finishes early takes the next one.  Returns when every call has returned.
 * fn must be safe to run concurrently with itself on different items. */
void td_parallel_for(size_t n, uint32_t threads, void (*fn)(void *ctx, size_t i), void *ctx);

#ifdef __cplusplus
}
#endif

#endif
