/*
 * td_jpeg.h - JPEG baseline and extended (ITU-T T.81 processes 1, 2 and 4; DICOM transfer
 * syntaxes 1.2.840.10008.1.2.4.50 and .51) for 8-bit samples through the system libjpeg-turbo
 * (Debian libjpeg62-turbo-dev, its libjpeg API: SIMD IDCT, upsampling and colour conversion).
 *
 * libjpeg-turbo 2.1 as Debian builds it decodes 8-bit samples only; frames of 12-bit precision
 * go to turbodicom's own kernel (td_jpegdct.h), whose output equals libjpeg-turbo 3's.
 *
 * Colour (flags): with none, the samples come out as coded (YCbCr stays YCbCr, chroma upsampled
 * with libjpeg's "fancy" triangular filter).  TD_JPEG_ADOBE_RGB lets libjpeg convert to RGB
 * when the stream has an Adobe APP14 marker (from the colour space it infers): together these
 * are exactly what Pillow hands pydicom (pydicom's pillow plugin asks for "YCbCr", i.e. no
 * conversion, unless Adobe APP14 is present).  TD_JPEG_YBR_TO_RGB then applies pydicom's own
 * YBR_FULL -> RGB (td_pixels.h) band by band while the rows are in cache.  TD_JPEG_RGB always
 * lets libjpeg convert to RGB (libjpeg-turbo's own output, as TurboJPEG gives it).
 *
 * Hostile input: libjpeg's fatal errors come back as TD_E_CORRUPT / TD_E_UNSUPPORTED with its
 * message; its "corrupt data" warnings that mean lost pixels (premature end of data, bad
 * Huffman code, missing restart marker) stop the decode too, where libjpeg would fill zeros.
 * Each call has its own decompressor and error handler: reentrant, any number at once.
 */
#ifndef TD_JPEG_H
#define TD_JPEG_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

/* td_jpeg_decode flags (3-component frames; others are always decoded as coded) */
#define TD_JPEG_ADOBE_RGB 0x1u  /* libjpeg's RGB conversion if an Adobe APP14 marker is there */
#define TD_JPEG_YBR_TO_RGB 0x2u /* then pydicom's YBR_FULL -> RGB (td_pixels.h) */
#define TD_JPEG_RGB 0x4u        /* libjpeg's RGB conversion, always */

/* Largest number of scans accepted in a progressive stream (TD_E_LIMIT beyond): each scan
 * revisits the whole image, so a small hostile file of many scans could keep a core busy for
 * minutes.  DICOM's JPEG syntaxes are sequential; real progressive files have about 10. */
#define TD_JPEG_MAX_SCANS 500

/* What libjpeg reads from the markers up to the first scan. */
typedef struct td_jpeg_info {
    uint32_t rows, columns, components, precision;
    int progressive; /* SOF2: not a DICOM process, decoded all the same */
    int jfif, adobe; /* an APP0 JFIF / APP14 Adobe marker was seen */
    int adobe_transform;
} td_jpeg_info;

/* Read the frame header with libjpeg; TD_E_UNSUPPORTED when built without it. */
int td_jpeg_read_header(const uint8_t *src, size_t src_len, td_jpeg_info *info, td_error *err);

/* Decode one 8-bit JPEG frame into out: rows * columns * components bytes, pixel-interleaved.
 * rows/columns/components are what the caller expects (the DICOM pixel module); a codestream
 * that disagrees is TD_E_CORRUPT before anything is decoded.  Precision other than 8 is
 * TD_E_UNSUPPORTED (the caller then uses td_jpegdct).  Returns TD_OK or a TD_E_* status. */
int td_jpeg_decode(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                   uint32_t components, unsigned flags, uint8_t *out, size_t out_len,
                   td_error *err);

/* 1 when this build links libjpeg-turbo (TD_HAVE_LIBJPEG), else 0: td_jpeg_decode then
 * returns TD_E_UNSUPPORTED for every frame. */
int td_jpeg_available(void);

/* The libjpeg-turbo version this build is linked with, e.g. "2.1.5" (LIBJPEG_TURBO_VERSION
 * where the headers define it); "" without libjpeg. */
const char *td_jpeg_backend_version(void);

#ifdef __cplusplus
}
#endif
#endif /* TD_JPEG_H */
