/* libFuzzer target for td_jlsdec (turbodicom's own JPEG-LS decoder): header read, then decode
 * with options taken from the input length (natural, 2- or 4-byte container; with or without
 * sign extension), once more into a buffer one byte short (must be refused). */
#include <stdlib.h>
#include "td_jlsdec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_jls_info info;
    td_error err;
    if (td_jlsdec_read_header(data, size, &info, &err) != TD_OK) return 0;
    static const uint32_t containers[4] = {0, 2, 4, 0};
    td_jls_options opt = {containers[size & 3], (size >> 2) & 1 ? TD_JLS_SIGN_EXTEND : 0u};
    size_t need;
    if (td_jlsdec_decoded_size(&info, &opt, &need, &err) != TD_OK) return 0;
    if (need > ((size_t)64 << 20)) return 0;
    uint8_t *out = malloc(need ? need : 1);
    if (out == NULL) return 0;
    td_jlsdec_decode(data, size, out, need, &opt, &err);
    if (need > 0 &&
        td_jlsdec_decode(data, size, out, need - 1, &opt, &err) != TD_E_OUTPUT_TOO_SMALL)
        abort();
    free(out);
    return 0;
}
