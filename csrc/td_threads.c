/* td_threads.c - see td_threads.h. */
#include "td_threads.h"

#include <pthread.h>
#include <stdatomic.h>

#define TD_THREADS_MAX 64

typedef struct loop {
    atomic_size_t next;
    size_t n;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
} loop;

static void *run(void *arg)
{
    loop *l = arg;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&l->next, 1, memory_order_relaxed);
        if (i >= l->n) return NULL;
        l->fn(l->ctx, i);
    }
}

void td_parallel_for(size_t n, uint32_t threads, void (*fn)(void *ctx, size_t i), void *ctx)
{
    loop l;
    atomic_init(&l.next, 0);
    l.n = n;
    l.fn = fn;
    l.ctx = ctx;
    if (threads > TD_THREADS_MAX) threads = TD_THREADS_MAX;
    if (threads > n) threads = (uint32_t)n;
    pthread_t th[TD_THREADS_MAX];
    uint32_t started = 0;
    for (uint32_t k = 1; k < threads; k++) {
        if (pthread_create(&th[started], NULL, run, &l) != 0) break;
        started++;
    }
    run(&l);
    for (uint32_t k = 0; k < started; k++) pthread_join(th[k], NULL);
}
