/* libFuzzer target for td_jls: header read, then decode with options taken from the input
 * length (natural, 2- or 4-byte container; with or without sign extension). */
#include <stdlib.h>
#include "td_jls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_jls_info info;
    td_error err;
    if (td_jls_read_header(data, size, &info, &err) != TD_OK) return 0;
    static const uint32_t containers[4] = {0, 2, 4, 0};
    td_jls_options opt = {containers[size & 3], (size >> 2) & 1 ? TD_JLS_SIGN_EXTEND : 0u};
    size_t need;
    if (td_jls_decoded_size(&info, &opt, &need, &err) != TD_OK) return 0;
    if (need > ((size_t)64 << 20)) return 0;
    uint8_t *out = malloc(need ? need : 1);
    if (out == NULL) return 0;
    td_jls_decode(data, size, out, need, &opt, &err);
    free(out);
    return 0;
}
