/* libFuzzer target for td_j2k: header parse, then decode with options taken from the input
 * length (strict or lenient, planar or interleaved, reduce 0 or 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "td_j2k.h"

#include <openjpeg.h>

/* OpenJPEG before 2.5.1 aborts on an assert() in its HT decoder (ht_dec.c mel_init) for some
 * damaged HT code-blocks (fixed upstream by PR #1436).  Debian bookworm ships 2.5.0, so HT
 * codestreams are only fuzzed against a fixed library; the known input is replayed by
 * tests/test_j2k_library_aborts.py. */
static int ht_assert_fixed(void)
{
    int major = 0, minor = 0, patch = 0;
    sscanf(opj_version(), "%d.%d.%d", &major, &minor, &patch);
    return major > 2 || (major == 2 && (minor > 5 || (minor == 5 && patch >= 1)));
}
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_j2k_info info;
    td_error err;
    if (td_j2k_read_header(data, size, &info, &err) != TD_OK) return 0;
    if (info.htj2k && !ht_assert_fixed()) return 0;
    unsigned flags = size & 1 ? TD_J2K_STRICT : 0;
    td_j2k_options opt = {0, (uint32_t)(size >> 1) & 1, 0, 0, flags};
    if (info.decomposition_levels > 0 && (size & 4)) opt.reduce = 1;
    size_t need;
    if (td_j2k_decoded_size(&info, &opt, &need, &err) != TD_OK) return 0;
    if (need > ((size_t)64 << 20)) return 0;
    uint8_t *out = malloc(need ? need : 1);
    if (out == NULL) return 0;
    td_j2k_decode(data, size, out, need, &opt, &err);
    free(out);
    return 0;
}
