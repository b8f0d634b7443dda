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

#ifndef TD_J2K_SUMS
/* One of the concurrent callers: every file on 1 and on 2 threads; its mismatches. */
typedef struct caller {
    int argc;
    char **argv;
    unsigned decoded, bad;
} caller;

static void *caller_run(void *arg)
{
    caller *c = arg;
    for (int a = 1; a < c->argc; a++) {
        size_t n, need;
        uint32_t bps;
        unsigned char *data = read_file(c->argv[a], &n), *one = NULL, *many = NULL;
        td_j2kdec *dec = NULL;
        td_error err;
        td_j2kdec_options opt = {0};
        if (data && td_j2kdec_open(data, n, &dec, &err) == TD_OK &&
            td_j2kdec_decoded_size(dec, &opt, &need, &bps, &err) == TD_OK && need &&
            need <= ((size_t)64 << 20) && (one = malloc(need)) && (many = malloc(need))) {
            opt.threads = 1;
            int rc1 = td_j2kdec_decode(dec, one, need, &opt, &err);
            opt.threads = 2;
            int rc = td_j2kdec_decode(dec, many, need, &opt, &err);
            if (rc != rc1 || (rc == TD_OK && memcmp(one, many, need) != 0)) {
                printf("%s: 2 threads beside another caller: %s than on one thread\n",
                       c->argv[a], rc != rc1 ? "another status" : "other bytes");
                c->bad++;
            }
            c->decoded++;
        }
        free(one);
        free(many);
        td_j2kdec_close(dec);
        free(data);
    }
    return NULL;
}
#endif

int main(int argc, char **argv)
{
    static const uint32_t threads[] = {2, 4};
    unsigned decoded = 0, bad = 0;
    for (int a = 1; a < argc; a++) {
        size_t n;
        unsigned char *data = read_file(argv[a], &n);
        td_j2kdec *dec = NULL;
        td_error err;
        if (!data || td_j2kdec_open(data, n, &dec, &err) != TD_OK) {
            free(data);
            continue;
        }
        for (uint32_t v = 0; v < 4; v++) {
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
            printf("%s %u %d %016llx\n", argv[a], v, rc1, fnv1a(one, rc1 == TD_OK ? need : 0));
#endif
            for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
                opt.threads = threads[t];
                if (v & 1) { /* the workers asleep (they wait awake 0.5 ms after a job) */
                    struct timespec nap = {0, 2000000};
                    nanosleep(&nap, NULL);
                }
                int rc = td_j2kdec_decode(dec, many, need, &opt, &err);
                if (rc != rc1 || (rc == TD_OK && memcmp(one, many, need) != 0)) {
                    printf("%s: reduce %u%s, %u threads: %s than on one thread\n", argv[a],
                           opt.reduce, v & 2 ? " planar" : "", threads[t],
                           rc != rc1 ? "another status" : "other bytes");
                    bad++;
                }
            }
            decoded++;
            free(one);
            free(many);
        }
        td_j2kdec_close(dec);
        free(data);
    }
#ifndef TD_J2K_SUMS
    caller c[2] = {{argc, argv, 0, 0}, {argc, argv, 0, 0}};
    pthread_t th;
    int started = pthread_create(&th, NULL, caller_run, &c[1]) == 0;
    caller_run(&c[0]);
    if (started) pthread_join(th, NULL);
    for (int k = 0; k < 2; k++) {
        decoded += c[k].decoded;
        bad += c[k].bad;
    }
#endif
    printf("tsan_j2kdec: %u decodes compared, %u mismatches\n", decoded, bad);
    return bad ? 1 : decoded ? 0 : 2;
}
