/* ThreadSanitizer check of csrc/j2k's threads (not a fuzzer): tsan_j2kdec FILE...
 *
 * Decodes each JPEG 2000 / HTJ2K codestream on 1 thread, then on 2 and 4 threads (the
 * code-blocks, the strips' phases and the inverse DWT shared out), at reduce 0 and 1,
 * interleaved and planar, and requires the same status and the same bytes every time.
 * ThreadSanitizer reports every data race on the way (run with TSAN_OPTIONS=halt_on_error=1).
 * Before some multi-thread decodes the pool's workers are left to fall asleep (2 ms), so that
 * the decode's early wake-up (td_parallel_prewake) races with its job as in a real caller.
 * Then (not in the sums build) two callers at once each decode every file on 1 and on 2
 * threads and compare, so that the two callers' jobs count on, start and share the same pool
 * of workers.
 * Files that are not codestreams turbodicom opens, or decode to more than 64 MiB, are
 * skipped.  Exit 0: every decode agreed; 1: a mismatch (printed); 2: no file was decoded.
 *
 * Built with -DTD_J2K_SUMS (sums_j2kdec, no sanitizer) it also prints a checksum of each
 * one-thread decode, so that two builds (the baseline and one for a CPU with FMA) can be
 * compared: the float arithmetic must not depend on the instruction set. */
#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "j2k/td_j2k.h"

#ifdef TD_J2K_SUMS
static unsigned long long fnv1a(const unsigned char *p, size_t n)
{
    unsigned long long h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
#endif

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *b = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len > 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)len)) &&
        fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = len > 0 ? (size_t)len : 0;
    return b;
}

/* Each file of argv decoded on 1 thread, then on each of the thread counts, in nv variants
 * (v & 1: reduce 1, with the workers left to fall asleep first; v & 2: planar): the decodes
 * compared and the mismatches (printed; `beside` says what ran at the same time). */
typedef struct check {
    int argc;
    char **argv;
    uint32_t nv;
    const uint32_t *threads;
    size_t nthreads;
    const char *beside;
    unsigned decoded, bad;
} check;

static void *check_files(void *arg)
{
    check *c = arg;
    for (int a = 1; a < c->argc; a++) {
        size_t n;
        unsigned char *data = read_file(c->argv[a], &n);
        td_j2kdec *dec = NULL;
        td_error err;
        if (!data || td_j2kdec_open(data, n, &dec, &err) != TD_OK) {
            free(data);
            continue;
        }
        for (uint32_t v = 0; v < c->nv; v++) {
            td_j2kdec_options opt = {0};
            opt.reduce = v & 1;
            opt.flags = v & 2 ? TD_J2KDEC_PLANAR : 0;
            size_t need;
            uint32_t bps;
            if (td_j2kdec_decoded_size(dec, &opt, &need, &bps, &err) != TD_OK || need == 0 ||
                need > ((size_t)64 << 20))
                continue;
            unsigned char *one = malloc(need), *many = malloc(need);
            if (!one || !many) {
                free(one);
                free(many);
                continue;
            }
            opt.threads = 1;
            int rc1 = td_j2kdec_decode(dec, one, need, &opt, &err);
#ifdef TD_J2K_SUMS
            printf("%s %u %d %016llx\n", c->argv[a], v, rc1, fnv1a(one, rc1 == TD_OK ? need : 0));
#endif
            for (size_t t = 0; t < c->nthreads; t++) {
                opt.threads = c->threads[t];
                if (v & 1) { /* the workers asleep (they wait awake 0.5 ms after a job) */
                    struct timespec nap = {0, 2000000};
                    nanosleep(&nap, NULL);
                }
                int rc = td_j2kdec_decode(dec, many, need, &opt, &err);
                if (rc != rc1 || (rc == TD_OK && memcmp(one, many, need) != 0)) {
                    printf("%s: reduce %u%s, %u threads%s: %s than on one thread\n", c->argv[a],
                           opt.reduce, v & 2 ? " planar" : "", opt.threads, c->beside,
                           rc != rc1 ? "another status" : "other bytes");
                    c->bad++;
                }
            }
            c->decoded++;
            free(one);
            free(many);
        }
        td_j2kdec_close(dec);
        free(data);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static const uint32_t threads[] = {2, 4};
    check all = {argc, argv, 4, threads, 2, "", 0, 0};
    check_files(&all);
    unsigned decoded = all.decoded, bad = all.bad;
#ifndef TD_J2K_SUMS
    /* two callers at once, each on 1 and 2 threads */
    static const uint32_t two[] = {2};
    check c[2] = {{argc, argv, 1, two, 1, " beside another caller", 0, 0},
                  {argc, argv, 1, two, 1, " beside another caller", 0, 0}};
    pthread_t th;
    int started = pthread_create(&th, NULL, check_files, &c[1]) == 0;
    check_files(&c[0]);
    if (started) pthread_join(th, NULL);
    for (int k = 0; k < 2; k++) {
        decoded += c[k].decoded;
        bad += c[k].bad;
    }
#endif
    printf("tsan_j2kdec: %u decodes compared, %u mismatches\n", decoded, bad);
    return bad ? 1 : decoded ? 0 : 2;
}
