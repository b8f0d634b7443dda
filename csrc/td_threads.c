/* td_threads.c - see td_threads.h. */
#include "td_threads.h"

#include <pthread.h>
#include <stdatomic.h>

#define TD_THREADS_MAX 64

typedef struct team {
    void (*fn)(void *arg);
    void *arg;
} team;

static void *start(void *p)
{
    const team *t = p;
    t->fn(t->arg);
    return NULL;
}

void td_parallel_run(uint32_t threads, void (*fn)(void *arg), void *arg)
{
    team t = {fn, arg};
    if (threads > TD_THREADS_MAX) threads = TD_THREADS_MAX;
    pthread_t th[TD_THREADS_MAX];
    uint32_t started = 0;
    for (uint32_t k = 1; k < threads; k++) {
        if (pthread_create(&th[started], NULL, start, &t) != 0) break;
        started++;
    }
    fn(arg);
    for (uint32_t k = 0; k < started; k++) pthread_join(th[k], NULL);
}

typedef struct loop {
    atomic_size_t next;
    size_t n;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
} loop;

static void run(void *arg)
{
    loop *l = arg;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&l->next, 1, memory_order_relaxed);
        if (i >= l->n) return;
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
    if (threads > n) threads = (uint32_t)n;
    td_parallel_run(threads, run, &l);
}
