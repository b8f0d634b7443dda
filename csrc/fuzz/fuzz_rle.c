/* libFuzzer target for td_rle: decode arbitrary frames with parameters taken from the first
 * bytes, and round-trip every successful decode through the encoder. */
#include "td_rle.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t bits[] = {1, 8, 16, 32, 64, 8, 16, 8};
    uint32_t rows, columns, spp, bits_allocated;
    unsigned flags;
    size_t frame_size;
    uint8_t *out;
    td_error err;
    if (size < 4) return 0;
    rows = 1u + data[0];
    columns = 1u + data[1];
    spp = 1u + (data[2] & 3u);
    bits_allocated = bits[(data[2] >> 2) & 7u];
    flags = (unsigned)(data[3] & 3u);
    data += 4;
    size -= 4;
    frame_size = td_rle_frame_size(rows, columns, spp, bits_allocated);
    if (frame_size == 0) return 0;
    out = malloc(frame_size);
    if (out == NULL) return 0;
    if (td_rle_decode_frame(data, size, rows, columns, spp, bits_allocated, flags, out,
                            frame_size, &err) == TD_OK && bits_allocated != 1 && flags == 0) {
        size_t bound = td_rle_encode_bound(rows, columns, spp, bits_allocated), len = 0;
        uint8_t *enc = malloc(bound), *back = malloc(frame_size);
        if (enc != NULL && back != NULL &&
            td_rle_encode_frame(out, frame_size, rows, columns, spp, bits_allocated, enc, bound,
                                &len, &err) == TD_OK) {
            if (td_rle_decode_frame(enc, len, rows, columns, spp, bits_allocated, 0, back,
                                    frame_size, &err) != TD_OK ||
                memcmp(back, out, frame_size) != 0)
                abort();
        }
        free(enc);
        free(back);
    }
    free(out);
    return 0;
}
