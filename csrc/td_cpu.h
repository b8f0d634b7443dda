/*
 * td_cpu.h - LZCNT, chosen at run time by the kernels that count leading zeros in their inner
 * loops (the JPEG 2000 MQ decoder's renormalisation, the JPEG-LS Golomb codes and k).
 *
 * x86-64's baseline has only BSR to count leading zeros: 4 cycles and several micro-ops on AMD
 * Zen against 1 for LZCNT (both 3 cycles on Intel), and the count sits on the chain from one
 * decision or sample to the next.  So where TD_LZCNT_TARGET is 1 those kernels are built twice,
 * as is and with __attribute__((target("lzcnt"))), and take the second when td_cpu_lzcnt().
 * Built with -mlzcnt or -march=x86-64-v3 the one version has LZCNT; -DTD_NO_LZCNT leaves the
 * second out, to test the first on a CPU that has LZCNT (the sanitizer build, TD_SANITIZE, and
 * csrc/fuzz's portable sums build do).  __builtin_cpu_supports("lzcnt") is not known to every
 * clang that builds the fuzz targets, hence CPUID itself.
 */
#ifndef TD_CPU_H
#define TD_CPU_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__LZCNT__) && \
    !defined(TD_NO_LZCNT)
#define TD_LZCNT_TARGET 1
#include <cpuid.h>
#include <stdatomic.h>

static inline int td_cpu_lzcnt(void)
{
    static atomic_int known; /* 0: not asked yet; 1: no; 2: yes (one per file that asks) */
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (!v) { /* LZCNT (AMD's ABM): CPUID 8000_0001h, ECX bit 5 */
        unsigned a, b, c = 0, d;
        v = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 5)) ? 2 : 1;
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v == 2;
}
/* &name_lzcnt (a table of the kernels built with LZCNT) if the CPU has it, else &name */
#define TD_LZCNT_PICK(name) (td_cpu_lzcnt() ? &name##_lzcnt : &name)
#else
#define TD_LZCNT_TARGET 0
#define TD_LZCNT_PICK(name) (&name)
#endif

#endif /* TD_CPU_H */
