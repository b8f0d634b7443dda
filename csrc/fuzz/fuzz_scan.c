/* libFuzzer target for the tag scanner (td_scan): scan the input as a file held in memory for
 * a fixed set of tags spread over the file meta, identifying, image and pixel groups. */
#include <stdlib.h>

#include "td_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t tags[] = {0x00020010, 0x00080016, 0x00080018, 0x00080060, 0x00100010,
                                    0x00100020, 0x0020000D, 0x0020000E, 0x00200013, 0x00200032,
                                    0x00280010, 0x00280011, 0x00291010, 0x7FE00010};
    enum { N = sizeof tags / sizeof tags[0] };
    td_scan_value values[N];
    td_scan_info info;
    td_error err;
    static uint8_t arena[4096];
    uint8_t *work = malloc(1 << 16);
    if (work == NULL) return 0;
    for (size_t i = 0; i < N; i++) values[i].tag = tags[i];
    (void)td_scan_buffer(data, size, values, N, work, 1 << 16, arena, sizeof arena, &info, &err);
    free(work);
    return 0;
}
