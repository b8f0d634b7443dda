# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Tag scanner (csrc/td_scan): one C walk per file with the GIL released, values converted here.

Values are converted the way pydicom converts them for ``ds.<Keyword>`` (pydicom.values), as
plain Python types: str for text VRs, int for IS and the binary integer VRs, float for DS, FL,
FD, int for AT, bytes for OB/OW/UN..., a list for more than one value, None when absent.
"""
from cpython.unicode cimport PyUnicode_DecodeLatin1, PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from turbodicom._capi cimport *

import os

include "_status.pxi"

WORK_SIZE = 65536

#: Largest total of requested values accepted for one file (a guard against hostile lengths).
cdef size_t MAX_ARENA = 256 << 20


ctypedef short int16_t_
ctypedef int int32_t_


cdef inline int _vr(const char *v) noexcept nogil:
    return (<int>(<uint8_t>v[0]) << 8) | <int>(<uint8_t>v[1])


cdef int VR_AE = _vr(b"AE"), VR_AS = _vr(b"AS"), VR_AT = _vr(b"AT"), VR_CS = _vr(b"CS")
cdef int VR_DA = _vr(b"DA"), VR_DS = _vr(b"DS"), VR_DT = _vr(b"DT"), VR_FL = _vr(b"FL")
cdef int VR_FD = _vr(b"FD"), VR_IS = _vr(b"IS"), VR_LO = _vr(b"LO"), VR_LT = _vr(b"LT")
cdef int VR_OB = _vr(b"OB"), VR_OD = _vr(b"OD"), VR_OF = _vr(b"OF"), VR_OL = _vr(b"OL")
cdef int VR_OV = _vr(b"OV"), VR_OW = _vr(b"OW"), VR_PN = _vr(b"PN"), VR_SH = _vr(b"SH")
cdef int VR_SL = _vr(b"SL"), VR_SQ = _vr(b"SQ"), VR_SS = _vr(b"SS"), VR_ST = _vr(b"ST")
cdef int VR_SV = _vr(b"SV"), VR_TM = _vr(b"TM"), VR_UC = _vr(b"UC"), VR_UI = _vr(b"UI")
cdef int VR_UL = _vr(b"UL"), VR_UN = _vr(b"UN"), VR_UR = _vr(b"UR"), VR_US = _vr(b"US")
cdef int VR_UT = _vr(b"UT"), VR_UV = _vr(b"UV")
cdef int VR_XS = _vr(b"xs")  # "US or SS": decided by Pixel Representation

# Character set modes: how text VRs (SH, LO, UC, ST, LT, UT, PN) are decoded.
cdef enum:
    CS_LATIN1 = 0   # default repertoire and ISO_IR 100 (pydicom's default 'iso8859')
    CS_UTF8 = 1     # ISO_IR 192
    CS_OTHER = 2    # anything else: the Python callback (pydicom's charset machinery)


cdef inline uint16_t ld16(const uint8_t *p, bint be) noexcept nogil:
    if be:
        return <uint16_t>((p[0] << 8) | p[1])
    return <uint16_t>(p[0] | (p[1] << 8))


cdef inline uint32_t ld32(const uint8_t *p, bint be) noexcept nogil:
    if be:
        return ((<uint32_t>p[0]) << 24) | ((<uint32_t>p[1]) << 16) | ((<uint32_t>p[2]) << 8) | p[3]
    return p[0] | ((<uint32_t>p[1]) << 8) | ((<uint32_t>p[2]) << 16) | ((<uint32_t>p[3]) << 24)


cdef inline uint64_t ld64(const uint8_t *p, bint be) noexcept nogil:
    if be:
        return ((<uint64_t>ld32(p, 1)) << 32) | ld32(p + 4, 1)
    return (<uint64_t>ld32(p, 0)) | ((<uint64_t>ld32(p + 4, 0)) << 32)


cdef inline Py_ssize_t rstrip_len(const uint8_t *p, Py_ssize_t n) noexcept nogil:
    while n > 0 and (p[n - 1] == 32 or p[n - 1] == 0):
        n -= 1
    return n


cdef object _one_or_list(list values):
    return values[0] if len(values) == 1 else values


cdef object _to_is(str s):
    # pydicom.valuerep.IS: '' stays ''; '12.0' is 12; anything else non-integral stays as text
    if not s.strip():
        return s
    try:
        return int(s)
    except ValueError:
        try:
            f = float(s)
        except ValueError:
            return s
        if f == int(f):
            return int(f)
        return s


cdef object _to_ds(str s):
    if not s.strip():
        return s
    try:
        return float(s)
    except ValueError:
        return s


cdef object _numbers(const uint8_t *p, Py_ssize_t n, int vr, bint be):
    cdef Py_ssize_t size, count, i
    cdef uint32_t u32
    cdef uint64_t u64
    cdef float f32
    cdef double f64
    if vr == VR_US or vr == VR_SS:
        size = 2
    elif vr == VR_UL or vr == VR_SL or vr == VR_FL or vr == VR_AT:
        size = 4
    else:
        size = 8
    if n % size != 0:
        return p[:n]  # pydicom refuses such a value; give the raw bytes
    count = n // size
    cdef list out = []
    for i in range(count):
        if vr == VR_US:
            out.append(ld16(p + 2 * i, be))
        elif vr == VR_SS:
            out.append(<int16_t_>ld16(p + 2 * i, be))
        elif vr == VR_UL:
            out.append(ld32(p + 4 * i, be))
        elif vr == VR_SL:
            out.append(<int32_t_>ld32(p + 4 * i, be))
        elif vr == VR_AT:
            out.append((<uint32_t>ld16(p + 4 * i, be) << 16) | ld16(p + 4 * i + 2, be))
        elif vr == VR_FL:
            u32 = ld32(p + 4 * i, be)
            memcpy(&f32, &u32, 4)
            out.append(<double>f32)
        elif vr == VR_FD:
            u64 = ld64(p + 8 * i, be)
            memcpy(&f64, &u64, 8)
            out.append(f64)
        elif vr == VR_UV:
            out.append(ld64(p + 8 * i, be))
        else:  # SV
            out.append(<int64_t>ld64(p + 8 * i, be))
    return _one_or_list(out)


cdef class Scanner:
    """Scans files for a fixed list of tags; one instance per thread (it owns the buffers).

    Parameters
    ----------
    tags : list of int
        The requested tags, in output order (no duplicates).
    vrs : list of str or None
        The dictionary VR of each tag (used for implicit VR data and for explicit 'UN'), or
        None when unknown.
    decode_text : callable
        ``decode_text(raw: bytes, charsets: list[str]) -> str`` for character sets other than
        the default, ISO_IR 100 and ISO_IR 192.
    """
    cdef td_scan_value *values
    cdef Py_ssize_t nr, ncols
    cdef int *dict_vr
    cdef Py_ssize_t *column
    cdef Py_ssize_t charset_i, pixrep_i
    cdef uint8_t *work
    cdef size_t work_len
    cdef uint8_t *arena
    cdef size_t arena_cap
    cdef object decode_text
    cdef int cs_mode
    cdef object cs_value
    cdef bint big_endian
    cdef public str transfer_syntax_uid

    def __cinit__(self):
        self.values = NULL
        self.dict_vr = NULL
        self.column = NULL
        self.work = NULL
        self.arena = NULL

    def __init__(self, list tags not None, list vrs not None, decode_text not None):
        cdef Py_ssize_t i
        cdef uint32_t t
        if len(tags) != len(vrs):
            raise ValueError("tags and vrs differ in length")
        self.decode_text = decode_text
        self.ncols = len(tags)
        want = {int(t): i for i, t in enumerate(tags)}
        if len(want) != len(tags):
            raise ValueError("duplicate tags")
        extra = 0x00080005  # (0008,0005) Specific Character Set decides how text decodes
        pixrep = 0x00280103  # (0028,0103) Pixel Representation decides "US or SS"
        extras = {extra}
        if "xs" in vrs:
            extras.add(pixrep)
        all_tags = sorted(set(want) | extras)
        self.nr = len(all_tags)
        self.values = <td_scan_value *>malloc(self.nr * sizeof(td_scan_value))
        self.dict_vr = <int *>malloc(self.nr * sizeof(int))
        self.column = <Py_ssize_t *>malloc(self.nr * sizeof(Py_ssize_t))
        self.work_len = WORK_SIZE
        self.work = <uint8_t *>malloc(self.work_len)
        self.arena_cap = 4096
        self.arena = <uint8_t *>malloc(self.arena_cap)
        if (self.values == NULL or self.dict_vr == NULL or self.column == NULL or
                self.work == NULL or self.arena == NULL):
            raise MemoryError()
        self.charset_i = -1
        self.pixrep_i = -1
        for i, t in enumerate(all_tags):
            if not 0 <= t <= 0xFFFFFFFF:
                raise ValueError(f"tag {t:#x} is out of range")
            self.values[i].tag = t
            if t in want:
                self.column[i] = want[t]
                vr = vrs[want[t]]
                self.dict_vr[i] = _vr(vr.encode("ascii")) if vr and len(vr) == 2 else VR_UN
            else:
                self.column[i] = -1
                self.dict_vr[i] = VR_CS
            if t == extra:
                self.charset_i = i
            if t == pixrep:
                self.pixrep_i = i
                self.dict_vr[i] = VR_US
        self.transfer_syntax_uid = ""

    def __dealloc__(self):
        free(self.values)
        free(self.dict_vr)
        free(self.column)
        free(self.work)
        free(self.arena)

    cdef int _run(self, const char *path, const uint8_t *buf, size_t buf_len,
                  td_scan_info *info, td_error *err) noexcept nogil:
        if path != NULL:
            return td_scan_file(path, self.values, <size_t>self.nr, self.work, self.work_len,
                                self.arena, self.arena_cap, info, err)
        return td_scan_buffer(buf, buf_len, self.values, <size_t>self.nr, self.work,
                              self.work_len, self.arena, self.arena_cap, info, err)

    cdef str _scan_one(self, const char *path, const uint8_t *buf, size_t buf_len, bint is_buf):
        """Scan one file; return None or the error message.  Values stay in the arena."""
        cdef td_scan_info info
        cdef td_error err
        cdef int rc
        cdef uint8_t *grown
        td_error_clear(&err)
        with nogil:
            rc = self._run(path, buf, buf_len, &info, &err)
        if rc == TD_E_OUTPUT_TOO_SMALL:
            if info.arena_needed > MAX_ARENA:
                return (f"the requested values need {info.arena_needed} bytes, more than the "
                        f"limit of {MAX_ARENA}")
            grown = <uint8_t *>realloc(self.arena, info.arena_needed)
            if grown == NULL:
                raise MemoryError()
            self.arena = grown
            self.arena_cap = info.arena_needed
            td_error_clear(&err)
            with nogil:
                rc = self._run(path, buf, buf_len, &info, &err)
        self.transfer_syntax_uid = info.transfer_syntax_uid.decode("ascii", "replace") \
            if rc != TD_E_INVALID_ARGUMENT else ""
        self.big_endian = info.big_endian
        if rc < 0:
            msg = err.message.decode("utf-8", "replace") or td_strerror(rc).decode("ascii")
            return msg
        return None

    cdef object _text(self, const uint8_t *p, Py_ssize_t n):
        if self.cs_mode == CS_LATIN1:
            return PyUnicode_DecodeLatin1(<const char *>p, n, NULL)
        if self.cs_mode == CS_UTF8:
            return PyUnicode_DecodeUTF8(<const char *>p, n, "replace")
        return self.decode_text(p[:n], self.cs_value)

    cdef object _convert(self, int vr, const uint8_t *p, Py_ssize_t n, bint be):
        cdef Py_ssize_t m, i, start
        cdef list parts
        cdef bytes raw
        if vr == VR_SQ:
            return None
        if n == 0:
            # pydicom's empty_value_for_VR: '' for text VRs, None otherwise
            if (vr == VR_AE or vr == VR_AS or vr == VR_CS or vr == VR_DA or vr == VR_DT or
                    vr == VR_LO or vr == VR_LT or vr == VR_PN or vr == VR_SH or vr == VR_ST or
                    vr == VR_TM or vr == VR_UC or vr == VR_UI or vr == VR_UR or vr == VR_UT):
                return ""
            return None
        if (vr == VR_CS or vr == VR_UI or vr == VR_DA or vr == VR_TM or vr == VR_DT or
                vr == VR_AS or vr == VR_IS or vr == VR_DS):
            # pydicom multi_string: strip trailing spaces/NULs of the whole value, then split
            m = rstrip_len(p, n)
            s = PyUnicode_DecodeLatin1(<const char *>p, m, NULL)
            if vr == VR_IS:
                if "\\" in s:
                    return [_to_is(x) for x in s.split("\\")]
                return _to_is(s)
            if vr == VR_DS:
                if "\\" in s:
                    return [_to_ds(x) for x in s.split("\\")]
                return _to_ds(s)
            if "\\" in s:
                return s.split("\\")
            return s
        if vr == VR_LO or vr == VR_SH or vr == VR_UC:
            s = self._text(p, n)
            if "\\" in s:
                return [x.rstrip("\0 ") for x in s.split("\\")]
            return s.rstrip("\0 ")
        if vr == VR_PN:
            # pydicom convert_PN: strip the whole value, split values on '\\', component
            # groups on '=' (each decoded on its own), trailing empty groups dropped
            m = rstrip_len(p, n)
            parts = []
            for raw in p[:m].split(b"\\"):
                if self.cs_mode == CS_OTHER:
                    groups = [self.decode_text(g, self.cs_value) for g in raw.split(b"=")]
                    while groups and not groups[len(groups) - 1]:
                        groups.pop()
                    parts.append("=".join(groups))
                else:
                    parts.append(self._text(<const uint8_t *><const char *>raw,
                                            len(raw)).rstrip("="))
            return _one_or_list(parts)
        if vr == VR_ST or vr == VR_LT or vr == VR_UT:
            return self._text(p, n).rstrip("\0 ")
        if vr == VR_AE:
            s = PyUnicode_DecodeLatin1(<const char *>p, n, NULL)
            return _one_or_list([x.strip() for x in s.split("\\")])
        if vr == VR_UR:
            return PyUnicode_DecodeLatin1(<const char *>p, n, NULL).rstrip()
        if (vr == VR_US or vr == VR_SS or vr == VR_UL or vr == VR_SL or vr == VR_FL or
                vr == VR_FD or vr == VR_AT or vr == VR_UV or vr == VR_SV):
            return _numbers(p, n, vr, be)
        return p[:n]  # OB, OW, OF, OD, OL, OV, UN and unknown VRs: bytes

    cdef void _charset(self, uint8_t *arena):
        cdef td_scan_value *v
        self.cs_mode = CS_LATIN1
        self.cs_value = None
        if self.charset_i < 0:
            return
        v = &self.values[self.charset_i]
        if not v.found or v.offset < 0 or v.length <= 0:
            return
        raw = arena[v.offset:v.offset + v.length]
        names = [x.strip() for x in raw.decode("latin-1").rstrip("\0 ").split("\\")]
        names = [x for x in names if x] or [""]
        if len(names) == 1 and names[0] in ("", "ISO_IR 6", "ISO_IR 100"):
            return
        if len(names) == 1 and names[0] == "ISO_IR 192":
            self.cs_mode = CS_UTF8
            return
        self.cs_mode = CS_OTHER
        self.cs_value = names

    cdef list _values(self):
        return self._values_in(self.arena)

    cdef list _values_in(self, uint8_t *arena):
        cdef Py_ssize_t i
        cdef td_scan_value *v
        cdef int vr
        cdef bint be = self.big_endian
        cdef list row = [None] * self.ncols
        cdef int xs = VR_US
        self._charset(arena)
        if self.pixrep_i >= 0:
            v = &self.values[self.pixrep_i]
            if v.found and v.offset >= 0 and v.length >= 2 and ld16(arena + v.offset, be) == 1:
                xs = VR_SS
        for i in range(self.nr):
            if self.column[i] < 0:
                continue
            v = &self.values[i]
            if not v.found or (v.offset < 0 and v.length != 0):
                continue
            vr = _vr(v.vr) if v.vr[0] != 0 else self.dict_vr[i]
            if vr == VR_UN and self.dict_vr[i] != VR_UN:
                vr = self.dict_vr[i]  # pydicom replaces UN by the dictionary VR
            if vr == VR_XS:
                vr = xs
            # file meta (group 0002) is always little endian (PS3.10 7.1)
            row[self.column[i]] = self._convert(vr, arena + v.offset, v.length,
                                                be and (v.tag >> 16) != 2)
        return row

    def scan_file(self, path):
        """Scan one file: ``(error or None, [value per tag])``."""
        cdef bytes p = path if isinstance(path, bytes) else str(path).encode()
        err = self._scan_one(p, NULL, 0, False)
        return err, self._values()

    def scan_buffer(self, const uint8_t[::1] buf not None):
        """Scan a file held in memory: ``(error or None, [value per tag])``."""
        err = self._scan_one(NULL, cptr(buf), <size_t>buf.shape[0], True)
        return err, self._values()

    def scan_many(self, list paths not None, list errors not None, list columns not None):
        """Scan every path (bytes), appending to `errors` and to each of `columns`.

        The C walks of the whole batch run in one GIL-free block (values collected in a batch
        arena), then the values are converted with the GIL held: threads scanning different
        batches overlap almost completely.
        """
        cdef Py_ssize_t nfiles = len(paths), k, j, i
        cdef Py_ssize_t nr = self.nr
        cdef const char **cpaths = NULL
        cdef td_scan_value *batch = NULL
        cdef td_error *errs = NULL
        cdef int *rcs = NULL
        cdef int *bes = NULL
        cdef size_t *bases = NULL
        cdef uint8_t *big = NULL
        cdef uint8_t *grown
        cdef size_t big_cap = 0, used = 0, need
        cdef td_scan_info info
        cdef int rc
        cdef bint nomem = False
        cdef list row
        cdef list keep = [p if isinstance(p, bytes) else os.fsencode(p) for p in paths]
        if nfiles == 0:
            return
        try:
            cpaths = <const char **>malloc(nfiles * sizeof(char *))
            batch = <td_scan_value *>malloc(nfiles * nr * sizeof(td_scan_value))
            errs = <td_error *>malloc(nfiles * sizeof(td_error))
            rcs = <int *>malloc(nfiles * sizeof(int))
            bes = <int *>malloc(nfiles * sizeof(int))
            bases = <size_t *>malloc(nfiles * sizeof(size_t))
            big_cap = 65536
            big = <uint8_t *>malloc(big_cap)
            if (cpaths == NULL or batch == NULL or errs == NULL or rcs == NULL or
                    bes == NULL or bases == NULL or big == NULL):
                raise MemoryError()
            for k in range(nfiles):
                cpaths[k] = <const char *>(<bytes>keep[k])
                memcpy(batch + k * nr, self.values, nr * sizeof(td_scan_value))
            with nogil:
                for k in range(nfiles):
                    td_error_clear(&errs[k])
                    bases[k] = used
                    rc = td_scan_file(cpaths[k], batch + k * nr, <size_t>nr, self.work,
                                      self.work_len, big + used, big_cap - used, &info,
                                      &errs[k])
                    if rc == TD_E_OUTPUT_TOO_SMALL and info.arena_needed <= MAX_ARENA:
                        need = used + info.arena_needed
                        if need > big_cap:
                            if need < 2 * big_cap:
                                need = 2 * big_cap
                            grown = <uint8_t *>realloc(big, need)
                            if grown == NULL:
                                nomem = True
                                break
                            big = grown
                            big_cap = need
                        td_error_clear(&errs[k])
                        rc = td_scan_file(cpaths[k], batch + k * nr, <size_t>nr, self.work,
                                          self.work_len, big + used, big_cap - used, &info,
                                          &errs[k])
                    rcs[k] = rc
                    bes[k] = info.big_endian
                    # values that fitted stay where they are, even when the scan failed
                    used += info.arena_needed if info.arena_needed <= big_cap - used \
                        else big_cap - used
            if nomem:
                raise MemoryError()
            # convert, one file at a time, through the single-file path's converter
            for k in range(nfiles):
                rc = rcs[k]
                if rc < 0:
                    msg = errs[k].message.decode("utf-8", "replace") or \
                        td_strerror(rc).decode("ascii")
                    if rc == TD_E_OUTPUT_TOO_SMALL:
                        msg = f"the requested values exceed the limit of {MAX_ARENA} bytes"
                    errors.append(msg)
                else:
                    errors.append(None)
                memcpy(self.values, batch + k * nr, nr * sizeof(td_scan_value))
                for i in range(nr):
                    if self.values[i].offset >= 0:
                        self.values[i].offset += <int64_t>bases[k]
                    elif rc == TD_E_OUTPUT_TOO_SMALL:
                        self.values[i].found = 0
                self.big_endian = bes[k]
                row = self._values_in(big)
                for j in range(self.ncols):
                    (<list>columns[j]).append(row[j])
        finally:
            free(cpaths)
            free(batch)
            free(errs)
            free(rcs)
            free(bes)
            free(bases)
            free(big)
