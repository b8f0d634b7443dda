/* td_threads.c - see td_threads.h.
 *
 * One process-wide set of worker threads, started when a call wants more of them than are
 * idle and kept, asleep, for the next calls (a decode of a few milliseconds would
 * otherwise pay a thread start and join per call and per stage).  A job is open while its
 * caller runs fn: an idle worker (one asleep when the job was posted, or one that finishes
 * other work meanwhile) joins it until it has its helpers.  When the caller's own fn returns
 * the job closes, and while the caller waits for the helpers that joined it works on the open
 * jobs those helpers posted (the nested jobs of one top-level call form a group), so that the
 * thread that runs out of work first helps the others finish instead of idling.  A worker
 * that finishes a job waits LINGER_NS for the next one awake before it sleeps (waking a
 * sleeping thread took about 50 us here, often milliseconds, against 1 us for one waiting
 * awake: the cost of a frame of half a millisecond decoded on two threads frame after frame).
 * td_parallel_prewake wakes sleeping workers into that awake wait ahead of a job, so that
 * their wake-up overlaps the caller's serial start (a JPEG 2000 decode's marker and packet
 * parsing) instead of delaying the job.  The caller, too, waits for its helpers awake for up
 * to SPIN_NS before it sleeps, and every wait awake yields its CPU every YIELD_NS (td_spin):
 * Linux may wake a sleeping caller onto the CPU where its helper now waits awake for the next
 * job, and does not move a thread that ran within the last 0.5 ms to the idle CPU, so the
 * caller waited there for the end of the helper's wait (on 2 vCPUs, a 512x512 JPEG 2000 frame
 * decoded on 2 threads frame after frame: a median of 1.64-1.67 ms instead of 1.13-1.17 in
 * half the rounds of 100 decodes).  A worker asleep for IDLE_EXIT_SECONDS exits.
 * fork(): the child starts with no workers and no jobs (pthread_atfork). */
#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_sigmask */
#endif
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity */
#endif
#include "td_threads.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define TD_THREADS_MAX 64
#define IDLE_EXIT_SECONDS 2
#define LINGER_NS 500000  /* a worker waits awake this long after a job for the next one */
#define SPIN_NS 200000    /* a caller waits awake this long for its helpers before it sleeps */

typedef struct job {
    void (*fn)(void *arg);
    void *arg;
    const struct job *group; /* the top-level job of the call this one was posted from */
    uint32_t want;     /* helpers that may still join */
    uint32_t claimed;  /* of them, the available workers counted on (nclaimed) */
    uint32_t running;  /* helpers inside fn */
    int closed;        /* the caller waits for running == 0 */
    struct job *next;  /* in the open list while want > 0 and not closed */
} job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER; /* idle workers sleep here */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER; /* callers wait for their helpers */
static job *open_jobs;                                     /* oldest first */
static uint32_t nworkers, nidle, nstarting;                /* started, not yet in their loop */
static uint32_t nclaimed;                                  /* the open jobs' claims */
static uint32_t nwaiting;                                  /* callers waiting on done_cv */
static uint32_t nasleep;                                   /* idle workers asleep on work_cv */
static unsigned prewakes;                                  /* td_parallel_prewake calls that woke some */
static _Thread_local const job *current_group;             /* of the fn this thread runs */
static atomic_uint posted;                                 /* jobs posted so far */

/* fork() while a thread holds mu would leave it locked in the child, whose only thread is the
 * forking one: the handlers hold it across fork(); the child has no workers and no jobs. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void lock_for_fork(void) { pthread_mutex_lock(&mu); }
static void unlock_in_parent(void) { pthread_mutex_unlock(&mu); }
static void reset_in_child(void)
{
    open_jobs = NULL;
    nworkers = nidle = nstarting = nclaimed = nwaiting = nasleep = 0;
    pthread_cond_init(&work_cv, NULL);
    pthread_cond_init(&done_cv, NULL);
    pthread_mutex_unlock(&mu);
}
static void init(void) { pthread_atfork(lock_for_fork, unlock_in_parent, reset_in_child); }

/* With mu held: take the job off the open list. */
static void unlink_job(job *j)
{
    for (job **p = &open_jobs; *p; p = &(*p)->next)
        if (*p == j) { *p = j->next; return; }
}

/* With mu held (released while fn runs): join open job j as one of its helpers. */
static void help(job *j)
{
    if (--j->want == 0) unlink_job(j);
    if (j->claimed) { /* (whoever joins: the worker counted on stays available) */
        j->claimed--;
        nclaimed--;
    }
    __atomic_fetch_add(&j->running, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&mu);
    const job *outer = current_group;
    current_group = j->group;
    j->fn(j->arg);
    current_group = outer;
    pthread_mutex_lock(&mu);
    if (__atomic_sub_fetch(&j->running, 1, __ATOMIC_RELEASE) == 0 && j->closed)
        pthread_cond_broadcast(&done_cv);
}

uint32_t td_cpu_count(void)
{
    static atomic_uint cached;
    unsigned n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n) return n;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = (unsigned)CPU_COUNT(&set);
#endif
    if (!n) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (unsigned)c : 1;
    }
    atomic_store_explicit(&cached, n, memory_order_relaxed);
    return n;
}

int64_t td_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void td_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#define YIELD_NS 10000 /* a thread waiting awake yields its CPU this often */

void td_spin_start(td_spin *s, int64_t ns)
{
    int64_t now = td_now_ns();
    s->until = now + ns;
    s->next_yield = now + YIELD_NS;
    s->turn = 0;
}

int td_spin_turn(td_spin *s)
{
    td_cpu_relax();
    if (++s->turn & 63) return 1;
    int64_t now = td_now_ns();
    if (now > s->until) return 0;
    if (now > s->next_yield) {
        sched_yield();
        s->next_yield = now + YIELD_NS;
    }
    return 1;
}

static void *worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&mu);
    nstarting--;
    int64_t linger = td_now_ns() + LINGER_NS; /* until then, wait for a job awake (started
                                                * for a job it may have missed: more come) */
    for (;;) {
        if (open_jobs) {
            help(open_jobs);
            linger = td_now_ns() + LINGER_NS;
            continue;
        }
        if (linger) {
            /* right after a job: wait for the next one awake (idle) for a while, since waking
             * a sleeping thread costs tens of microseconds, on a virtual machine often far
             * more, which a caller decoding frame after frame would pay every time */
            unsigned seen = atomic_load(&posted);
            td_spin spin;
            td_spin_start(&spin, linger - td_now_ns());
            linger = 0;
            nidle++;
            pthread_mutex_unlock(&mu);
            while (atomic_load_explicit(&posted, memory_order_relaxed) == seen && td_spin_turn(&spin))
                ;
            pthread_mutex_lock(&mu);
            nidle--;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += IDLE_EXIT_SECONDS;
        nidle++;
        nasleep++;
        int rc = 0;
        unsigned pw = prewakes;
        while (!open_jobs && rc != ETIMEDOUT && prewakes == pw)
            rc = pthread_cond_timedwait(&work_cv, &mu, &until);
        nasleep--;
        nidle--;
        if (open_jobs) continue;
        if (prewakes != pw) { /* a job is coming: wait for it awake */
            linger = td_now_ns() + LINGER_NS;
            continue;
        }
        if (rc == ETIMEDOUT) break;
    }
    nworkers--;
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Start a detached worker with every signal blocked (they stay with the threads that expect
 * them); 0 when it could not be started. */
static int start_worker(void)
{
    pthread_attr_t attr;
    pthread_t th;
    sigset_t all, old;
    if (pthread_attr_init(&attr) != 0) return 0;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int ok = pthread_create(&th, &attr, worker, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return ok;
}

void td_parallel_run(uint32_t threads, void (*fn)(void *arg), void *arg)
{
    if (threads <= 1) {
        fn(arg);
        return;
    }
    if (threads > TD_THREADS_MAX) threads = TD_THREADS_MAX;
    pthread_once(&once, init);
    job j = {fn, arg, NULL, threads - 1, 0, 0, 0, NULL};
    j.group = current_group ? current_group : &j;
    pthread_mutex_lock(&mu);
    job **tail = &open_jobs;
    while (*tail) tail = &(*tail)->next;
    *tail = &j;
    atomic_fetch_add(&posted, 1);
    /* count on the available workers it wants: idle, or started and not yet in their loop,
     * and not counted on by another open job (each open job's claims stand until a thread
     * joins it or it closes), and wake them.  A top-level call starts workers for the rest,
     * as if it started its own threads; a nested call (from inside fn, whose call already
     * has its threads) takes only workers that are, or become, idle, so that the threads
     * stay as many as the callers asked for.  (Counting signalled workers instead, until one
     * left its wait, sometimes counted one that had joined from elsewhere, or not yet
     * started, as busy, and started a second helper for a 2-thread decode: the two then took
     * turns, the one left out asleep, and in up to half the decodes the helper joined 20-40
     * us late, for the life of the process: 11 of 16 processes in one count.) */
    uint32_t avail = nidle + nstarting > nclaimed ? nidle + nstarting - nclaimed : 0;
    uint32_t wake = avail < j.want ? avail : j.want;
    uint32_t start = j.group == &j ? j.want - wake : 0;
    if (start > TD_THREADS_MAX - nworkers) start = TD_THREADS_MAX - nworkers;
    for (uint32_t k = 0; k < wake; k++) pthread_cond_signal(&work_cv);
    j.claimed = wake + start;
    nclaimed += wake + start;
    nworkers += start;
    nstarting += start;
    if (nwaiting && j.group != &j) pthread_cond_broadcast(&done_cv); /* callers that may help */
    pthread_mutex_unlock(&mu);
    uint32_t failed = 0;
    for (uint32_t k = 0; k < start; k++)
        if (!start_worker()) failed++;
    if (failed) {
        pthread_mutex_lock(&mu);
        nworkers -= failed;
        nstarting -= failed;
        uint32_t c = failed < j.claimed ? failed : j.claimed;
        j.claimed -= c;
        nclaimed -= c;
        pthread_mutex_unlock(&mu);
    }
    const job *outer = current_group;
    current_group = j.group;
    fn(arg);
    current_group = outer;
    pthread_mutex_lock(&mu);
    if (j.want) unlink_job(&j);
    nclaimed -= j.claimed; /* (the workers not come yet are free for other jobs) */
    j.claimed = 0;
    j.closed = 1;
    int spun = 0;
    while (__atomic_load_n(&j.running, __ATOMIC_ACQUIRE)) {
        job *k = open_jobs; /* an open job of this call's group: help it meanwhile */
        while (k && k->group != j.group) k = k->next;
        if (k) {
            help(k);
            continue;
        }
        if (!spun) {
            /* the helpers finish within microseconds of the caller as a rule: wait for them
             * awake (or for a job posted meanwhile, which may be one of this call's to help)
             * before sleeping, since a sleeper woken onto a CPU where a worker waits awake
             * for the next job could wait there for the end of that wait (0.5 ms; see the
             * top of this file) */
            spun = 1;
            unsigned seen = atomic_load(&posted);
            pthread_mutex_unlock(&mu);
            td_spin spin;
            td_spin_start(&spin, SPIN_NS);
            while (__atomic_load_n(&j.running, __ATOMIC_ACQUIRE) &&
                   atomic_load_explicit(&posted, memory_order_relaxed) == seen && td_spin_turn(&spin))
                ;
            pthread_mutex_lock(&mu);
            continue;
        }
        nwaiting++;
        pthread_cond_wait(&done_cv, &mu);
        nwaiting--;
    }
    pthread_mutex_unlock(&mu);
}

void td_parallel_prewake(uint32_t threads)
{
    if (threads <= 1) return;
    pthread_once(&once, init);
    pthread_mutex_lock(&mu);
    uint32_t n = nasleep < threads - 1 ? nasleep : threads - 1;
    if (n) {
        prewakes++;
        for (uint32_t k = 0; k < n; k++) pthread_cond_signal(&work_cv);
    }
    pthread_mutex_unlock(&mu);
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
