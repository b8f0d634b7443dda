# ruff: noqa: E741, B007  (single-letter names follow T.81: l = code length)
"""Test-only lossless JPEG (T.81 Annex H) encoder in pure Python/numpy, to generate streams
exercising every feature: Pt, restart intervals, non-interleaved scans, DNL, several tables,
table redefinition, fill bytes, SSSS=16, forced modulo-2^16 wraps ("internal" values)."""

import numpy as np


def predict(sel, Ra, Rb, Rc):
    if sel == 1:
        return Ra
    if sel == 2:
        return Rb
    if sel == 3:
        return Rc
    if sel == 4:
        return Ra + Rb - Rc
    if sel == 5:
        return Ra + ((Rb - Rc) >> 1)
    if sel == 6:
        return Rb + ((Ra - Rc) >> 1)
    if sel == 7:
        return (Ra + Rb) >> 1
    raise ValueError


def diffs_for_plane(u, P, Pt, sel, rows_per_interval):
    """u: 2-D array of internal (already point-transformed) values, 0..65535.
    Returns diffs in [-32767, 32768] (mod 2^16 representation)."""
    Y, X = u.shape
    u = u.astype(np.int64)
    d = np.zeros((Y, X), np.int64)
    init = 1 << (P - Pt - 1)
    for y in range(Y):
        first = (y % rows_per_interval) == 0
        for x in range(X):
            if first:
                px = init if x == 0 else u[y, x - 1]
            elif x == 0:
                px = u[y - 1, 0]
            else:
                px = predict(sel, u[y, x - 1], u[y - 1, x], u[y - 1, x - 1])
            v = (u[y, x] - px) & 0xFFFF
            if v > 32768:
                v -= 65536
            d[y, x] = v
    return d


def ssss_of(v):
    if v == 32768:
        return 16
    return int(abs(int(v))).bit_length()


def build_lengths(freq, maxlen=16):
    """Huffman code lengths limited to maxlen (package-merge). freq: dict sym->count>0."""
    syms = sorted(freq)
    if len(syms) == 1:
        return {syms[0]: 1}
    # package-merge
    items = sorted((freq[s], [s]) for s in syms)
    cur = list(items)
    for _ in range(maxlen - 1):
        pk = []
        for i in range(0, len(cur) - 1, 2):
            pk.append((cur[i][0] + cur[i + 1][0], cur[i][1] + cur[i + 1][1]))
        cur = sorted(items + pk, key=lambda t: t[0])
    n = 2 * len(syms) - 2
    lengths = {s: 0 for s in syms}
    for _w, ss in cur[:n]:
        for s in ss:
            lengths[s] += 1
    return lengths


def table_from_lengths(lengths, reserve_all_ones=True):
    """Canonical table: BITS (16 counts), HUFFVAL order, and code dict."""
    # avoid all-ones code: add a dummy if the table is full (Kraft sum == 1) by lengthening
    bits = [0] * 17
    for s, l in lengths.items():
        bits[l] += 1
    order = sorted(lengths, key=lambda s: (lengths[s], s))
    code = 0
    codes = {}
    k = 0
    for l in range(1, 17):
        for _ in range(bits[l]):
            codes[order[k]] = (code, l)
            code += 1
            k += 1
        code <<= 1
    return bits[1:], order, codes


def make_table(symbols_used, counts=None, maxlen=16, force_lengths=None):
    if force_lengths is not None:
        return table_from_lengths(force_lengths)
    freq = {s: (counts.get(s, 0) if counts else 0) + 1 for s in symbols_used}
    # add a phantom symbol so no real code is all ones (like K.2's reserved codepoint)
    phantom = max(17, 1 + max(freq))
    freq[phantom] = 0.5
    L = build_lengths(freq, maxlen)
    del L[phantom]
    return table_from_lengths(L)


class BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, v, n):
        if n == 0:
            return
        self.acc = (self.acc << n) | (v & ((1 << n) - 1))
        self.n += n
        while self.n >= 8:
            b = (self.acc >> (self.n - 8)) & 0xFF
            self.out.append(b)
            if b == 0xFF:
                self.out.append(0)
            self.n -= 8
        self.acc &= (1 << self.n) - 1

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)


def seg(marker, payload):
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def dht(tables):
    p = bytearray()
    for th, (bits, vals, _) in tables:
        p += bytes([0x00 | th]) + bytes(bits) + bytes(vals)
    return seg(0xC4, bytes(p))


def encode(
    img,
    P,
    predictor=1,
    Pt=0,
    restart_interval=0,
    scans=None,
    table_ids=None,
    dnl=False,
    fill_bytes=0,
    internal=None,
    maxlen=16,
    force_lengths=None,
    separate_dht=False,
    redefine_tables=False,
    comp_ids=None,
    app=True,
    eoi=True,
    sof_before_dht=True,
    hv=0x11,
):
    """img: (Y,X) or (Y,X,Nf) unsigned ints < 2^P. internal: optional (Y,X,Nf) internal values
    (0..65535) to encode instead of img >> Pt (forces wraps). scans: list of lists of component
    indexes (default: one interleaved scan). table_ids: Huffman table index per component."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    Y, X, Nf = img.shape
    if internal is None:
        internal = img.astype(np.int64) >> Pt
    else:
        internal = np.asarray(internal, np.int64)
        if internal.ndim == 2:
            internal = internal[:, :, None]
    if scans is None:
        scans = [list(range(Nf))]
    if table_ids is None:
        table_ids = [0] * Nf
    if comp_ids is None:
        comp_ids = list(range(1, Nf + 1))
    mcus_per_row = X
    if restart_interval:
        assert restart_interval % mcus_per_row == 0
        rpi = restart_interval // mcus_per_row
    else:
        rpi = 1 << 30
    diffs = [diffs_for_plane(internal[:, :, c], P, Pt, predictor, rpi) for c in range(Nf)]
    out = bytearray(b"\xff\xd8")
    if app:
        out += seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        out += seg(0xFE, b"turbodicom test stream")
    sof = seg(
        0xC3,
        bytes([P])
        + (0 if dnl else Y).to_bytes(2, "big")
        + X.to_bytes(2, "big")
        + bytes([Nf])
        + b"".join(bytes([comp_ids[c], hv, 0]) for c in range(Nf)),
    )
    if sof_before_dht:
        out += sof
    if restart_interval:
        out += seg(0xDD, restart_interval.to_bytes(2, "big"))
    tables_written = {}
    for si, sc in enumerate(scans):
        # build tables for this scan's components
        need = {}
        for c in (
            sc
            if redefine_tables
            else [c for c in range(Nf) if table_ids[c] in {table_ids[x] for x in sc}]
        ):
            th = table_ids[c]
            need.setdefault(th, {})
            for v in diffs[c].ravel():
                s = ssss_of(v)
                need[th][s] = need[th].get(s, 0) + 1
        tabs = []
        for th, cnt in sorted(need.items()):
            if force_lengths is not None and th in force_lengths:
                t = table_from_lengths(force_lengths[th])
            else:
                t = make_table(set(cnt), cnt, maxlen)
            if redefine_tables or th not in tables_written:
                tabs.append((th, t))
                tables_written[th] = t
        if tabs:
            if separate_dht:
                for tt in tabs:
                    out += dht([tt])
            else:
                out += dht(tabs)
        if si == 0 and not sof_before_dht:
            out += sof
        out += seg(
            0xDA,
            bytes([len(sc)])
            + b"".join(bytes([comp_ids[c], table_ids[c] << 4]) for c in sc)
            + bytes([predictor, 0, Pt]),
        )
        bw = BitWriter()
        nint = 0
        for y in range(Y):
            if y and y % rpi == 0:
                bw.flush()
                out += bw.out
                bw = BitWriter()
                out += b"\xff" * fill_bytes + bytes([0xFF, 0xD0 + (nint % 8)])
                nint += 1
            for x in range(X):
                for c in sc:
                    codes = tables_written[table_ids[c]][2]
                    v = int(diffs[c][y, x])
                    s = ssss_of(v)
                    code, l = codes[s]
                    bw.put(code, l)
                    if 0 < s < 16:
                        bw.put(v if v >= 0 else v + (1 << s) - 1, s)
        bw.flush()
        out += bw.out
        if dnl and si == 0:
            out += b"\xff" * fill_bytes + seg(0xDC, Y.to_bytes(2, "big"))
    out += b"\xff" * fill_bytes
    if eoi:
        out += b"\xff\xd9"
    return bytes(out)
