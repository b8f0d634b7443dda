"""Test-only JPEG sequential DCT transcoder: rewrites a Huffman-coded SOF0/SOF1 stream with the
features encoders rarely produce, keeping its quantised coefficients.

``transcode(stream, ...)`` decodes the entropy-coded data of a one-scan stream (made by
libjpeg-turbo through imagecodecs) into quantised coefficients (T.81 F.2.2), then writes a new
stream (F.1.2) with restart intervals, one scan per component (or any grouping and order),
DQT/DHT/DRI segments between scans, a DNL segment, 16-bit quantisation tables, Se = 0 in the
scan headers, fill bytes before markers and Huffman codes of a chosen length.  The result is
checked against libjpeg-turbo decoding the *same* rewritten stream, so the transcoder only needs
to write valid streams; it is not itself an oracle.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34,
          27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37,
          44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]


@dataclass
class Frame:
    marker: int
    precision: int
    rows: int
    columns: int
    comps: list  # [(id, h, v, tq)]
    qt: dict = field(default_factory=dict)  # tq -> 64 values (zig-zag order)
    blocks: list = field(default_factory=list)  # per component: {(bx, by): [64 zig-zag coefs]}
    other: list = field(default_factory=list)  # APPn segments to keep (marker, payload)


def _segments(data: bytes):
    pos = 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        payload = data[pos + 4:pos + 2 + length]
        yield marker, payload, pos + 2 + length
        if marker == 0xDA:
            return
        pos += 2 + length


def _tables(payload, huff):
    q = 0
    while q < len(payload):
        tc, th = payload[q] >> 4, payload[q] & 15
        bits = list(payload[q + 1:q + 17])
        n = sum(bits)
        vals = list(payload[q + 17:q + 17 + n])
        codes, code, k = {}, 0, 0
        for length in range(1, 17):
            for _ in range(bits[length - 1]):
                codes[(length, code)] = vals[k]
                k += 1
                code += 1
            code <<= 1
        huff[(tc, th)] = codes
        q += 17 + n


class _BitReader:
    def __init__(self, data: bytes, pos: int):
        self.data, self.pos, self.acc, self.n = data, pos, 0, 0

    def bit(self) -> int:
        if self.n == 0:
            b = self.data[self.pos]
            if b == 0xFF:
                assert self.data[self.pos + 1] == 0, "marker inside the scan"
                self.pos += 1
            self.pos += 1
            self.acc, self.n = b, 8
        self.n -= 1
        return (self.acc >> self.n) & 1

    def bits(self, n: int) -> int:
        v = 0
        for _ in range(n):
            v = (v << 1) | self.bit()
        return v

    def symbol(self, codes) -> int:
        code = 0
        for length in range(1, 17):
            code = (code << 1) | self.bit()
            if (length, code) in codes:
                return codes[(length, code)]
        raise ValueError("bad code")


def _extend(v: int, s: int) -> int:
    return v - (1 << s) + 1 if s and v < (1 << (s - 1)) else v


def parse(data: bytes) -> Frame:
    """Quantised coefficients and tables of a one-scan, interleaved (or one-component) stream
    without restart intervals."""
    huff: dict = {}
    frame = None
    qt = {}
    other = []
    for marker, payload, end in _segments(data):
        if marker in (0xC0, 0xC1):
            p, y, x, nf = payload[0], *struct.unpack(">HH", payload[1:5]), payload[5]
            comps = [(payload[6 + 3 * i], payload[7 + 3 * i] >> 4, payload[7 + 3 * i] & 15,
                      payload[8 + 3 * i]) for i in range(nf)]
            frame = Frame(marker, p, y, x, comps)
        elif marker == 0xDB:
            q = 0
            while q < len(payload):
                pq, tq = payload[q] >> 4, payload[q] & 15
                n = 2 if pq else 1
                qt[tq] = [int.from_bytes(payload[q + 1 + n * k:q + 1 + n * (k + 1)], "big")
                          for k in range(64)]
                q += 1 + 64 * n
        elif marker == 0xC4:
            _tables(payload, huff)
        elif marker == 0xDD:
            assert struct.unpack(">H", payload[:2])[0] == 0, "restart intervals in the source"
        elif 0xE0 <= marker <= 0xEF:
            other.append((marker, payload))
        elif marker == 0xDA:
            ns = payload[0]
            sel = [(payload[1 + 2 * j], payload[2 + 2 * j] >> 4, payload[2 + 2 * j] & 15)
                   for j in range(ns)]
            scan_start = end
    assert frame is not None and ns == len(frame.comps)
    frame.qt, frame.other = qt, other
    hmax = max(c[1] for c in frame.comps)
    vmax = max(c[2] for c in frame.comps)
    nf = len(frame.comps)
    if nf == 1:
        cw, ch = -(-frame.columns // 8), -(-frame.rows // 8)
        mcus = [(bx, by) for by in range(ch) for bx in range(cw)]
    else:
        mx, my = -(-frame.columns // (8 * hmax)), -(-frame.rows // (8 * vmax))
        mcus = [(x, y) for y in range(my) for x in range(mx)]
    br = _BitReader(data, scan_start)
    frame.blocks = [dict() for _ in range(nf)]
    pred = [0] * nf
    for (mx_, my_) in mcus:
        for cid, td, ta in sel:
            ci = [c[0] for c in frame.comps].index(cid)
            h, v = (1, 1) if nf == 1 else frame.comps[ci][1:3]
            for vv in range(v):
                for hh in range(h):
                    coefs = [0] * 64
                    s = br.symbol(huff[(0, td)])
                    pred[ci] += _extend(br.bits(s), s)
                    coefs[0] = pred[ci]
                    k = 1
                    while k < 64:
                        rs = br.symbol(huff[(1, ta)])
                        r, s = rs >> 4, rs & 15
                        if s == 0:
                            if r != 15:
                                break
                            k += 16
                            continue
                        k += r
                        coefs[k] = _extend(br.bits(s), s)
                        k += 1
                    frame.blocks[ci][(mx_ * h + hh, my_ * v + vv)] = coefs
    return frame


class _BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value: int, n: int):
        for i in range(n - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc, self.n = 0, 0

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)


def _category(v: int) -> int:
    return abs(v).bit_length()


def _code_table(symbols, length):
    """Canonical code giving every symbol the same length (never the all-ones code)."""
    symbols = sorted(symbols)
    assert len(symbols) < (1 << length)
    bits = [0] * 16
    bits[length - 1] = len(symbols)
    codes = {s: (length, i) for i, s in enumerate(symbols)}
    return bits, symbols, codes


def _dht(tc, th, bits, vals):
    payload = bytes([tc << 4 | th]) + bytes(bits) + bytes(vals)
    return b"\xff\xc4" + struct.pack(">H", 2 + len(payload)) + payload


def _seg(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", 2 + len(payload)) + payload


def write(frame: Frame, *, scans=None, restart_interval=0, dnl=False, pq16=False, se=63,
          fill=0, ac_code_length=None, dc_code_length=5, dqt_between_scans=None,
          restart_per_scan=None, qt_scale=1) -> bytes:
    """Write `frame` as a new stream.

    scans: list of lists of component indices (default: one interleaved scan).
    restart_interval: Ri in MCUs (DRI before the first scan); restart_per_scan overrides it
    per scan (a DRI before each).  dnl: rows = 0 in the SOF and a DNL after the first scan.
    pq16: 16-bit quantisation tables.  se: the Se byte of every SOS.  fill: 0xFF fill bytes
    before every marker.  ac_code_length: length of every AC code (default: 9).
    dqt_between_scans: {scan index: {tq: 64 values}} DQT segments written before that scan.
    qt_scale: multiply every quantisation value (clamped to 1..255, or 1..65535 with pq16).
    """
    nf = len(frame.comps)
    scans = scans or [list(range(nf))]
    hmax = max(c[1] for c in frame.comps)
    vmax = max(c[2] for c in frame.comps)
    ff = b"\xff" * fill
    out = bytearray(b"\xff\xd8")
    for marker, payload in frame.other:
        out += ff + _seg(marker, payload)
    for tq, vals in sorted(frame.qt.items()):
        vals = [max(1, min(65535 if pq16 else 255, round(v * qt_scale))) for v in vals]
        if pq16:
            out += ff + _seg(0xDB, bytes([0x10 | tq]) + b"".join(struct.pack(">H", v)
                                                                  for v in vals))
        else:
            out += ff + _seg(0xDB, bytes([tq]) + bytes(vals))
    sof = struct.pack(">BHHB", frame.precision, 0 if dnl else frame.rows, frame.columns, nf)
    for cid, h, v, tq in frame.comps:
        sof += bytes([cid, h << 4 | v, tq])
    out += ff + _seg(frame.marker, sof)
    if restart_interval and restart_per_scan is None:
        out += ff + _seg(0xDD, struct.pack(">H", restart_interval))
    cw = [-(-frame.columns * c[1] // hmax) for c in frame.comps]
    ch = [-(-frame.rows * c[2] // vmax) for c in frame.comps]
    for si, comps in enumerate(scans):
        for tq, vals in (dqt_between_scans or {}).get(si, {}).items():
            out += ff + _seg(0xDB, bytes([tq]) + bytes(vals))
        if restart_per_scan is not None:
            ri = restart_per_scan[si]
            out += ff + _seg(0xDD, struct.pack(">H", ri))
        else:
            ri = restart_interval
        # the MCUs of this scan: lists of (component, block position)
        if len(comps) == 1:
            c = comps[0]
            mcus = [[(c, (bx, by))] for by in range(-(-ch[c] // 8))
                    for bx in range(-(-cw[c] // 8))]
        else:
            mx, my = -(-frame.columns // (8 * hmax)), -(-frame.rows // (8 * vmax))
            mcus = []
            for y in range(my):
                for x in range(mx):
                    mcu = []
                    for c in comps:
                        h, v = frame.comps[c][1:3]
                        mcu += [(c, (x * h + hh, y * v + vv)) for vv in range(v)
                                for hh in range(h)]
                    mcus.append(mcu)
        dcsyms, acsyms = set(range(12 if frame.precision == 8 else 16)), set()
        for mcu in mcus:
            for c, pos in mcu:
                coefs = frame.blocks[c].get(pos, [0] * 64)
                run = 0
                last = max([k for k in range(1, 64) if coefs[k]] or [0])
                for k in range(1, last + 1):
                    if coefs[k] == 0:
                        run += 1
                        continue
                    while run > 15:
                        acsyms.add(0xF0)
                        run -= 16
                    acsyms.add(run << 4 | _category(coefs[k]))
                    run = 0
                if last < 63:
                    acsyms.add(0)
        dbits, dvals, dcodes = _code_table(dcsyms, dc_code_length)
        abits, avals, acodes = _code_table(acsyms, ac_code_length or 9)
        for j in range(len(comps)):
            out += ff + _dht(0, j, dbits, dvals) + ff + _dht(1, j, abits, avals)
        sos = bytes([len(comps)])
        for j, c in enumerate(comps):
            sos += bytes([frame.comps[c][0], j << 4 | j])
        sos += bytes([0, se, 0])
        out += ff + _seg(0xDA, sos)
        bw = _BitWriter()
        pred = {c: 0 for c in comps}
        for i, mcu in enumerate(mcus):
            if ri and i and i % ri == 0:
                bw.flush()
                out += bw.out + ff + bytes([0xFF, 0xD0 + (i // ri - 1) % 8])
                bw = _BitWriter()
                pred = {c: 0 for c in comps}
            for c, pos in mcu:
                coefs = frame.blocks[c].get(pos, [0] * 64)
                diff = coefs[0] - pred[c]
                pred[c] = coefs[0]
                s = _category(diff)
                bw.put(dcodes[s][1], dcodes[s][0])
                bw.put(diff if diff >= 0 else diff + (1 << s) - 1, s)
                run = 0
                last = max([k for k in range(1, 64) if coefs[k]] or [0])
                for k in range(1, last + 1):
                    v = coefs[k]
                    if v == 0:
                        run += 1
                        continue
                    while run > 15:
                        bw.put(acodes[0xF0][1], acodes[0xF0][0])
                        run -= 16
                    s = _category(v)
                    sym = run << 4 | s
                    bw.put(acodes[sym][1], acodes[sym][0])
                    bw.put(v if v >= 0 else v + (1 << s) - 1, s)
                    run = 0
                if last < 63:
                    bw.put(acodes[0][1], acodes[0][0])
        bw.flush()
        out += bw.out
        if dnl and si == 0:
            out += ff + _seg(0xDC, struct.pack(">H", frame.rows))
    out += ff + b"\xff\xd9"
    return bytes(out)


def transcode(stream: bytes, **kwargs) -> bytes:
    """parse() then write() with the options of write()."""
    return write(parse(stream), **kwargs)
