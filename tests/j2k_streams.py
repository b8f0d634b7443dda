"""JPEG 2000 test codestreams encoded on the spot by OpenJPEG, each with its source image.

Four encoders over OpenJPEG, so the streams cover what each exposes:

* ``opj_compress`` (Debian's libopenjp2-tools, the system OpenJPEG) for the options the Python
  bindings lack: the five progression orders, POC, SOP/EPH, PLT/TLM, tile-parts, every code-block
  style (``-M`` 0-63: BYPASS, RESET, TERMALL, VCAUSAL, PTERM, SEGSYM), precincts, code-block sizes,
  tiles and grid offsets, layers, 5/3 and 9/7, MCT, ROI (RGN), guard bits, component subsampling,
  4-16 bits signed and unsigned (raw input written here with numpy);
* imagecodecs' ``jpeg2k_encode`` (its bundled OpenJPEG): 1-16 bits, 1-4 components, tiles;
* glymur (``Jp2k(..., data=...)``, the system OpenJPEG): precincts, mode switches, grid offsets,
  image subsampling, rate and PSNR layers;
* pylibjpeg-openjpeg's ``encode``: 1-24 bits signed and unsigned (the only one above 16),
  layered rates and PSNRs, MCT.

OpenJPEG writes no packed packet headers, so PPM and PPT streams are made here from an
``opj_compress -SOP -EPH`` stream: every packet is framed by SOP before and EPH after its header,
so the headers can be cut out and moved into PPT (tile-part header) or PPM (main header) marker
segments (T.800 A.7.4, A.7.5, A.8), SOP staying before each packet body.  Other syntax the
encoder never writes is made the same way from its streams, packets untouched: tile-parts of
different tiles interleaved, tiles in reverse order, no EOC, a last Psot of 0, COD/QCD repeated
in tile-part headers, COC/QCC per component and CRG in the main header.

Every case is ``(name, codestream bytes, source)``: :data:`CASES` maps a name to a :class:`Case`
whose :meth:`Case.build` encodes it once (cached; images are seeded, small and deterministic).
``source`` is the encoder's input, a list of per-component 2-D arrays; a lossless case
(reversible transform, every layer decoded) must decode to it exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

OPJ_COMPRESS = shutil.which("opj_compress")

# ------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------


def image(rows: int, cols: int, bits: int, signed: bool, seed: int) -> np.ndarray:
    """A gradient with noise spanning the full range of `bits`: compressible, every bit plane
    used, both extremes present.  Returned in the smallest numpy container (int64 math)."""
    rng = np.random.default_rng(seed)
    lo, hi = ((-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits))
    span = hi - lo
    y, x = np.mgrid[0:rows, 0:cols]
    ramp = (x * (3 + seed % 5) + y * (2 + seed % 3)).astype(np.int64)
    noise = rng.integers(0, max(2, span // 16), size=(rows, cols))
    img = lo + (ramp * (span // 61 + 1) + noise) % span
    img.flat[0], img.flat[-1] = lo, hi - 1
    return img.astype(container(bits, signed))


def container(bits: int, signed: bool) -> np.dtype:
    """The numpy dtype holding `bits`-bit samples."""
    return np.dtype(f"{'i' if signed else 'u'}{1 if bits <= 8 else 2 if bits <= 16 else 4}")


def components(rows: int, cols: int, ncomp: int, bits: int, signed: bool, seed: int,
               subsampling: list[tuple[int, int]] | None = None) -> list[np.ndarray]:
    """`ncomp` different component images; component k is ceil(rows/dy) x ceil(cols/dx)."""
    sub = subsampling or [(1, 1)] * ncomp
    return [image(-(-rows // dy), -(-cols // dx), bits, signed, seed * 7 + k)
            for k, (dx, dy) in enumerate(sub)]


def interleave(comps: list[np.ndarray]) -> np.ndarray:
    """(rows, cols) for one component, else (rows, cols, components)."""
    return comps[0] if len(comps) == 1 else np.stack(comps, axis=-1)


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Built:
    """An encoded case: the codestream (or JP2 file) and the encoder's input per component."""

    codestream: bytes
    source: list[np.ndarray]


@dataclasses.dataclass(frozen=True)
class Case:
    """One generated stream.

    `lossless` says the full decode must equal the source exactly (reversible 5/3, no
    quantisation, every layer decoded).  `encoder` names the tool, `options` its settings.
    """

    name: str
    encoder: str
    options: str
    make: Callable[[], Built] = dataclasses.field(repr=False, compare=False)
    lossless: bool = True

    def build(self) -> Built:
        """Encode (once; cached for the session)."""
        return _build(self.name)

    @property
    def requirement(self) -> str | None:
        """Why this case cannot be built here (a missing encoder), or None."""
        if self.encoder in ("opj_compress", "opj_compress+rewrite") and OPJ_COMPRESS is None:
            return "opj_compress not found (apt-get install libopenjp2-tools)"
        module = {"imagecodecs": "imagecodecs", "glymur": "glymur",
                  "pylibjpeg-openjpeg": "openjpeg"}.get(self.encoder)
        if module is not None:
            try:
                __import__(module)
            except ImportError:
                return f"{self.encoder} is not installed"
        return None


CASES: dict[str, Case] = {}


def _case(name: str, encoder: str, options: str, make: Callable[[], Built],
          lossless: bool = True) -> None:
    assert name not in CASES, name
    CASES[name] = Case(name, encoder, options, make, lossless)


@functools.lru_cache(maxsize=None)
def _build(name: str) -> Built:
    return CASES[name].make()


@functools.lru_cache(maxsize=1)
def _tmpdir() -> Path:
    import atexit

    path = Path(tempfile.mkdtemp(prefix="turbodicom-j2k-streams-"))
    atexit.register(shutil.rmtree, path, True)
    return path


# ------------------------------------------------------------------------------------------
# opj_compress
# ------------------------------------------------------------------------------------------
def opj_compress(comps: list[np.ndarray], bits: int, signed: bool, args: list[str],
                 subsampling: list[tuple[int, int]] | None = None, jp2: bool = False) -> bytes:
    """Encode `comps` with ``opj_compress`` from a little-endian raw file (``.rawl``, -F).

    The raw layout is planar, component after component, each ceil(rows/dy) x ceil(cols/dx)
    samples of 1 (up to 8 bits) or 2 bytes.  opj_compress's ``-F`` parser refuses 1-3 and 9
    bits, and an odd depth with an odd sample count; those depths come from the Python
    encoders.
    """
    if OPJ_COMPRESS is None:
        raise RuntimeError("opj_compress not found (apt-get install libopenjp2-tools)")
    rows, cols = comps[0].shape
    nbytes = 1 if bits <= 8 else 2
    raw = b"".join(c.astype(f"<{'i' if signed else 'u'}{nbytes}").tobytes() for c in comps)
    fmt = f"{cols},{rows},{len(comps)},{bits},{'s' if signed else 'u'}"
    if subsampling:
        fmt += "@" + ":".join(f"{dx}x{dy}" for dx, dy in subsampling)
    fd, base = tempfile.mkstemp(dir=_tmpdir())
    os.close(fd)
    src, dst = base + ".rawl", base + (".jp2" if jp2 else ".j2k")
    try:
        Path(src).write_bytes(raw)
        run = subprocess.run([OPJ_COMPRESS, "-i", src, "-o", dst, "-F", fmt, *args],
                             capture_output=True, text=True, timeout=60)
        if run.returncode != 0 or not Path(dst).is_file():
            raise RuntimeError(f"opj_compress {' '.join(args)} failed: "
                               f"{(run.stdout + run.stderr).strip()[-400:]}")
        return Path(dst).read_bytes()
    finally:
        for p in (base, src, dst):
            if os.path.exists(p):
                os.unlink(p)


def _opj(name: str, args: str, *, rows: int = 64, cols: int = 64, ncomp: int = 1,
         bits: int = 8, signed: bool = False, seed: int = 1, lossless: bool = True,
         subsampling: list[tuple[int, int]] | None = None, jp2: bool = False) -> None:
    argv = args.split()

    def make() -> Built:
        comps = components(rows, cols, ncomp, bits, signed, seed, subsampling)
        return Built(opj_compress(comps, bits, signed, argv, subsampling, jp2), comps)

    desc = f"{rows}x{cols}x{ncomp} {bits}-bit {'signed' if signed else 'unsigned'} {args}"
    if subsampling:
        desc += " subsampling " + ":".join(f"{dx}x{dy}" for dx, dy in subsampling)
    _case(name, "opj_compress", desc.strip(), make, lossless)


# progression orders, with layers, precincts and several components so the order matters
for _order in ("LRCP", "RLCP", "RPCL", "PCRL", "CPRL"):
    _opj(f"opj_prog_{_order}", f"-p {_order} -n 4 -r 8,4,1 -c [32,32],[16,16] -b 16,16",
         ncomp=3, seed=2)
    _opj(f"opj_prog_{_order}_tiles", f"-p {_order} -n 3 -r 4,1 -t 24,40 -b 8,8 -mct 0",
         rows=47, cols=65, ncomp=2, bits=12, seed=3)

# every code-block style: BYPASS 1, RESET 2, TERMALL 4, VCAUSAL 8, PTERM 16, SEGSYM 32
for _mode in range(64):
    _opj(f"opj_cblk_style_{_mode:02d}", f"-M {_mode} -b 16,16 -n 3 -r 4,2,1", rows=33, cols=47,
         bits=12, seed=4 + _mode)
for _mode in (1, 4, 8, 16, 32, 63):
    _opj(f"opj_cblk_style_{_mode:02d}_97", f"-M {_mode} -I -b 16,16 -n 3 -r 6,2",
         rows=33, cols=47, bits=10, seed=5, lossless=False)

# packet framing and length markers
_opj("opj_sop", "-SOP -n 3 -t 32,32 -r 4,1", ncomp=3, seed=6)
_opj("opj_eph", "-EPH -n 3 -t 32,32 -r 4,1", ncomp=3, seed=6)
_opj("opj_sop_eph", "-SOP -EPH -n 3 -c [16,16] -b 8,8 -r 4,1", ncomp=3, seed=6)
_opj("opj_plt_tlm", "-PLT -TLM -n 3 -t 32,32 -r 4,1", ncomp=3, seed=6)
_opj("opj_comment", "-C turbodicom", seed=6)

# progression order changes (POC): tile 1 (the only tile) split over resolutions, 2 tiles
_opj("opj_poc_resolutions", "-n 4 -r 4,1 -POC T1=0,0,2,2,3,CPRL/T1=2,0,2,4,3,RLCP",
     ncomp=3, seed=7)
_opj("opj_poc_components", "-n 3 -r 4,1 -POC T1=0,0,2,3,1,LRCP/T1=0,1,2,3,3,RPCL",
     ncomp=3, seed=7)
# a POC that splits the layers: OpenJPEG 2.5.0's encoder loses data (the system and
# imagecodecs' OpenJPEG, and the j2k branch's own decoder, all decode it 90 off the source),
# so not lossless, but a stream whose decode must still match OpenJPEG's
_opj("opj_poc_layers", "-n 4 -r 4,1 -POC T1=0,0,1,4,3,CPRL/T1=0,0,2,4,3,LRCP", ncomp=3,
     seed=7, lossless=False)

# tile-parts: one per resolution, layer or component
for _tp in ("R", "L", "C"):
    _opj(f"opj_tileparts_{_tp}", f"-TP {_tp} -t 32,32 -n 3 -r 4,1", ncomp=3, seed=8)

# tiles and the reference grid: partial edge tiles, odd image and tile origins
_opj("opj_tiles_16", "-t 16,16 -n 3", rows=33, cols=47, bits=12, seed=9)
_opj("opj_tiles_odd_origin", "-d 7,5 -t 16,16 -T 3,2 -n 3", rows=33, cols=47, bits=12, seed=9)
_opj("opj_origin_odd", "-d 7,5 -n 4", rows=33, cols=47, bits=12, seed=9)
_opj("opj_origin_odd_97", "-d 3,1 -n 4 -I -r 4", rows=33, cols=47, bits=12, seed=9,
     lossless=False)

# precincts and code-block sizes (4..1024 a side, at most 4096 samples)
_opj("opj_precincts", "-c [32,32],[16,16],[8,8] -b 8,8 -n 4 -p RPCL", ncomp=3, seed=10)
_opj("opj_precincts_pcrl", "-c [16,16] -b 4,4 -n 3 -p PCRL -r 4,1", rows=33, cols=47,
     bits=16, seed=10)
for _cb in ("4,4", "4,1024", "1024,4", "128,32", "16,64", "64,64"):
    _opj(f"opj_cblk_{_cb.replace(',', 'x')}", f"-b {_cb} -n 3", bits=16, seed=11)

# decomposition levels: none, one, the most OpenJPEG allows on 64x64 and on 256x256
_opj("opj_levels_0", "-n 1", rows=33, cols=47, seed=12)
_opj("opj_levels_1", "-n 2", rows=33, cols=47, seed=12)
_opj("opj_levels_6", "-n 7", seed=12)
_opj("opj_levels_8_256", "-n 9", rows=256, cols=256, bits=12, seed=12)

# quality layers: rates with a lossless last layer, PSNRs, lossy 9/7 layers
_opj("opj_layers_rates", "-r 40,20,10,5,1 -n 4", bits=12, seed=13)
_opj("opj_layers_psnr", "-q 30,40,0 -n 4", ncomp=3, seed=13)
_opj("opj_layers_97", "-I -r 40,20,10 -n 4", bits=12, seed=13, lossless=False)

# 9/7, MCT (RCT reversible, ICT irreversible), 1-4 components
_opj("opj_97", "-I -r 5", bits=16, seed=14, lossless=False)
_opj("opj_97_psnr", "-I -q 45", rows=33, cols=47, bits=12, signed=True, seed=14,
     lossless=False)
_opj("opj_ict", "-I -mct 1 -r 8", ncomp=3, seed=14, lossless=False)
_opj("opj_rct", "-mct 1", ncomp=3, seed=14)
_opj("opj_no_mct", "-mct 0", ncomp=3, seed=14)
_opj("opj_rct_4comp", "-mct 1", ncomp=4, seed=14)
_opj("opj_rct_16bit", "-mct 1", ncomp=3, bits=16, seed=14)
_opj("opj_2comp", "-n 3", ncomp=2, bits=12, signed=True, seed=14)
_opj("opj_4comp_97", "-I -mct 0 -r 6", ncomp=4, bits=8, seed=14, lossless=False)

# bit depths the raw reader takes, signed and unsigned, one and three components (its -F
# parser refuses an odd depth with an odd number of samples, hence 48 columns)
for _bits in (4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16):
    for _signed in (False, True):
        _opj(f"opj_bits_{_bits}{'s' if _signed else 'u'}", "-n 3", rows=33, cols=48,
             bits=_bits, signed=_signed, seed=15 + _bits)
    _opj(f"opj_bits_{_bits}s_3comp", "-n 3 -mct 0", rows=33, cols=48, ncomp=3, bits=_bits,
         signed=True, seed=15)

# component subsampling (XRsiz/YRsiz): 4:2:0, 4:2:2, 4:4:0, 3x3, mixed with 9/7
_opj("opj_sub_420", "-n 3 -mct 0", rows=34, cols=48, ncomp=3, seed=16,
     subsampling=[(1, 1), (2, 2), (2, 2)])
_opj("opj_sub_422", "-n 3 -mct 0", rows=34, cols=48, ncomp=3, seed=16,
     subsampling=[(1, 1), (2, 1), (2, 1)])
_opj("opj_sub_440", "-n 3 -mct 0", rows=34, cols=48, ncomp=3, seed=16,
     subsampling=[(1, 1), (1, 2), (1, 2)])
_opj("opj_sub_3x3", "-n 2 -mct 0", rows=33, cols=48, ncomp=2, bits=12, seed=16,
     subsampling=[(1, 1), (3, 3)])
# -s: every component subsampled alike (the reference grid is the larger one)
_opj("opj_s_2x2", "-s 2,2 -n 3 -mct 0", ncomp=3, seed=16)
_opj("opj_s_3x1_odd", "-s 3,1 -n 3", rows=33, cols=47, bits=12, seed=16)
_opj("opj_sub_420_97", "-n 3 -mct 0 -I -r 4", rows=64, cols=64, ncomp=3, seed=16,
     subsampling=[(1, 1), (2, 2), (2, 2)], lossless=False)

# ROI max-shift (RGN), guard bits, JP2 boxes, a few 256x256 frames
_opj("opj_roi", "-ROI c=0,U=5 -n 3", bits=12, seed=17)
_opj("opj_roi_97", "-ROI c=1,U=7 -I -r 6 -mct 0", ncomp=3, seed=17, lossless=False)
# 0 guard bits: too few for 12-bit 5/3, OpenJPEG's encoder drops the overflowing bit-planes
# (its own decode is 1111 off the source); still a valid stream to match OpenJPEG on
_opj("opj_guard_0", "-GuardBits 0 -n 3", bits=12, seed=18, lossless=False)
_opj("opj_guard_1", "-GuardBits 1 -n 3", bits=8, seed=18)
_opj("opj_guard_7_97", "-GuardBits 7 -I -r 4 -n 3", bits=12, seed=18, lossless=False)
_opj("opj_jp2", "-n 3", ncomp=3, seed=19, jp2=True)
_opj("opj_256_16bit", "-n 6", rows=256, cols=256, bits=16, seed=20)
_opj("opj_256_rgb_rpcl_tiles", "-p RPCL -t 128,128 -c [64,64],[32,32] -b 32,32 -n 5",
     rows=256, cols=256, ncomp=3, seed=20)
_opj("opj_256_12bit_97_layers", "-I -r 30,10,4 -n 6", rows=256, cols=256, bits=12, seed=20,
     lossless=False)


# ------------------------------------------------------------------------------------------
# PPM / PPT: packet headers moved out of an SOP+EPH stream
# ------------------------------------------------------------------------------------------
SOC, SOT, SOD, EOC, SOP, EPH, PPM, PPT = (0xFF4F, 0xFF90, 0xFF93, 0xFFD9, 0xFF91, 0xFF92,
                                          0xFF60, 0xFF61)


@dataclasses.dataclass
class TilePart:
    """One tile-part: its SOT fields, the header marker segments after SOT, the packet data."""

    isot: int
    tpsot: int
    tnsot: int
    header: bytes  # marker segments between SOT and SOD
    body: bytes  # everything after SOD


def split_codestream(cs: bytes) -> tuple[bytes, list[TilePart]]:
    """(main header from SOC up to the first SOT, tile-parts in codestream order).

    A plain walker for streams made here (every Psot set, as OpenJPEG writes them).
    """
    if struct.unpack_from(">H", cs, 0)[0] != SOC:
        raise ValueError("not a JPEG 2000 codestream (no SOC)")
    pos = 2
    while struct.unpack_from(">H", cs, pos)[0] != SOT:
        pos += 2 + struct.unpack_from(">H", cs, pos + 2)[0]
    main, parts = cs[:pos], []
    while pos < len(cs) and struct.unpack_from(">H", cs, pos)[0] == SOT:
        _lsot, isot, psot, tpsot, tnsot = struct.unpack_from(">HHIBB", cs, pos + 2)
        start, end = pos, pos + psot
        hpos = pos + 12
        while struct.unpack_from(">H", cs, hpos)[0] != SOD:
            hpos += 2 + struct.unpack_from(">H", cs, hpos + 2)[0]
        parts.append(TilePart(isot, tpsot, tnsot, cs[start + 12:hpos], cs[hpos + 2:end]))
        pos = end
    if cs[pos:pos + 2] != b"\xff\xd9":
        raise ValueError(f"expected EOC at {pos}")
    return main, parts


def split_packets(body: bytes) -> tuple[bytes, bytes]:
    """(packet headers each with its EPH, packet bodies each after its SOP) of one tile-part.

    Every packet must start with SOP and have EPH after its header.  Neither marker can occur
    inside a packet header (bit-stuffed after 0xFF) or inside code-block data (T.800 Annex D
    keeps 0xFF followed by a byte above 0x8F out of coded data), so a plain search is exact.
    """
    headers, bodies = bytearray(), bytearray()
    pos = 0
    while pos < len(body):
        if body[pos:pos + 2] != b"\xff\x91":
            raise ValueError(f"expected SOP at {pos} of a tile-part body")
        eph = body.find(b"\xff\x92", pos + 6)
        nxt = body.find(b"\xff\x91", pos + 6)
        if eph < 0 or (0 <= nxt < eph):
            raise ValueError(f"packet at {pos} has no EPH")
        end = len(body) if nxt < 0 else nxt
        headers += body[pos + 6:eph + 2]
        bodies += body[pos:pos + 6] + body[eph + 2:end]
        pos = end
    return bytes(headers), bytes(bodies)


def _segments(marker: int, payloads: list[bytes], first: int = 0) -> bytes:
    out = bytearray()
    for z, payload in enumerate(payloads, first):
        out += struct.pack(">HHB", marker, 3 + len(payload), z) + payload
    return bytes(out)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def _sot(part: TilePart, header: bytes, body: bytes) -> bytes:
    psot = 12 + len(header) + 2 + len(body)
    return (struct.pack(">HHHIBB", SOT, 10, part.isot, psot, part.tpsot, part.tnsot)
            + header + struct.pack(">H", SOD) + body)


def to_ppt(cs: bytes, max_segment: int = 65532) -> bytes:
    """The same codestream with each tile-part's packet headers in its PPT marker segments
    (T.800 A.7.5), at most `max_segment` bytes of headers per segment.

    Zppt counts the PPT segments of a tile across its tile-parts (0, 1, ... in the first
    tile-part, continuing in the next): OpenJPEG keeps them per tile and refuses a repeated
    Zppt within one tile.
    """
    main, parts = split_codestream(cs)
    out = bytearray(main)
    zppt: dict[int, int] = {}
    for part in parts:
        headers, bodies = split_packets(part.body)
        chunks = _chunks(headers, max_segment)
        ppt = _segments(PPT, chunks, zppt.get(part.isot, 0))
        zppt[part.isot] = zppt.get(part.isot, 0) + len(chunks)
        out += _sot(part, part.header + ppt, bodies)
    return bytes(out + struct.pack(">H", EOC))


def to_ppm(cs: bytes, max_segment: int = 65532) -> bytes:
    """The same codestream with every packet header in PPM marker segments of the main header
    (T.800 A.7.4): per tile-part, in codestream order, Nppm (4 bytes) then its headers.  The
    stream of Nppm+headers is cut every `max_segment` bytes, wherever that falls (the standard
    lets a tile-part's headers continue in the next PPM segment)."""
    main, parts = split_codestream(cs)
    packed, rest = bytearray(), bytearray()
    for part in parts:
        headers, bodies = split_packets(part.body)
        packed += struct.pack(">I", len(headers)) + headers
        rest += _sot(part, part.header, bodies)
    ppm = _segments(PPM, _chunks(bytes(packed), max_segment))
    return bytes(main + ppm + rest + struct.pack(">H", EOC))


def _packed(name: str, rewrite: Callable[[bytes], bytes], args: str, desc: str, *,
            ncomp: int = 3, bits: int = 8, seed: int = 21, lossless: bool = True) -> None:
    argv = ["-SOP", "-EPH", *args.split()]

    def make() -> Built:
        comps = components(64, 64, ncomp, bits, False, seed)
        return Built(rewrite(opj_compress(comps, bits, False, argv)), comps)

    _case(name, "opj_compress+rewrite", f"64x64x{ncomp} {bits}-bit -SOP -EPH {args}: {desc}",
          make, lossless)


_packed("ppt_one_tile", to_ppt, "-n 4 -r 4,2,1 -c [32,32],[16,16] -b 8,8", "PPT")
_packed("ppt_small_segments", functools.partial(to_ppt, max_segment=37),
        "-n 4 -r 4,1 -b 16,16", "PPT split into 37-byte segments")
_packed("ppt_tiles_tileparts", to_ppt, "-t 32,32 -n 3 -r 4,1 -TP R", "PPT per tile-part")
_packed("ppm_one_tile", to_ppm, "-n 4 -r 4,2,1", "PPM")
_packed("ppm_tiles", to_ppm, "-t 32,32 -n 3 -r 4,1 -p RPCL", "PPM over 4 tiles")
_packed("ppm_tileparts_small_segments", functools.partial(to_ppm, max_segment=50),
        "-t 32,32 -n 3 -r 4,1 -TP L", "PPM over tile-parts, 50-byte segments")
_packed("ppt_97", to_ppt, "-I -r 8,3 -n 3", "PPT, 9/7", bits=12, ncomp=1, lossless=False)


# ------------------------------------------------------------------------------------------
# Codestream syntax OpenJPEG's encoder never writes: the same packets, rearranged
# ------------------------------------------------------------------------------------------
def _marker_segments(header: bytes) -> list[tuple[int, bytes]]:
    """(marker, whole segment) of a run of marker segments."""
    out, pos = [], 0
    while pos < len(header):
        marker, length = struct.unpack_from(">HH", header, pos)
        out.append((marker, header[pos:pos + 2 + length]))
        pos += 2 + length
    return out


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">HH", marker, 2 + len(body)) + body


def _join(main: bytes, parts: list[TilePart], *, eoc: bool = True,
          last_psot_zero: bool = False) -> bytes:
    out = bytearray(main)
    for k, part in enumerate(parts):
        tp = _sot(part, part.header, part.body)
        if last_psot_zero and k == len(parts) - 1:
            tp = tp[:6] + b"\0\0\0\0" + tp[10:]  # Psot 0: this tile-part runs to EOC
        out += tp
    return bytes(out + (struct.pack(">H", EOC) if eoc else b""))


def interleave_tileparts(cs: bytes) -> bytes:
    """Tile-parts of different tiles interleaved: every tile's first part, then every second
    part, ... (T.800 A.4.2 only orders the tile-parts of one tile)."""
    main, parts = split_codestream(cs)
    return _join(main, sorted(parts, key=lambda p: (p.tpsot, p.isot)))


def reverse_tiles(cs: bytes) -> bytes:
    """The tiles in reverse order (tile-parts of each tile kept in order)."""
    main, parts = split_codestream(cs)
    return _join(main, sorted(parts, key=lambda p: (-p.isot, p.tpsot)))


def drop_eoc(cs: bytes) -> bytes:
    """No EOC marker at the end (streams cut after their last tile-part exist in archives)."""
    main, parts = split_codestream(cs)
    return _join(main, parts, eoc=False)


def last_psot_zero(cs: bytes) -> bytes:
    """The last tile-part's Psot 0: its length is implied by the EOC that follows."""
    main, parts = split_codestream(cs)
    return _join(main, parts, last_psot_zero=True)


def tile_headers_repeat_cod_qcd(cs: bytes) -> bytes:
    """The main COD and QCD repeated in the first tile-part header of every tile (tile-level
    defaults that override the main ones with the same values; T.800 A.6)."""
    main, parts = split_codestream(cs)
    segs = dict(_marker_segments(main[2:]))
    extra = segs[0xFF52] + segs[0xFF5C]
    for part in parts:
        if part.tpsot == 0:
            part.header = extra + part.header
    return _join(main, parts)


def main_header_coc_qcc_crg(cs: bytes) -> bytes:
    """COC and QCC for every component (the COD/QCD values as component overrides, T.800
    A.6.2, A.6.5) and a CRG (A.9.1, informative component registration) in the main header."""
    main, parts = split_codestream(cs)
    segs = _marker_segments(main[2:])
    found = dict(segs)
    siz, cod, qcd = found[0xFF51], found[0xFF52], found[0xFF5C]
    csiz = struct.unpack_from(">H", siz, 38)[0]
    assert csiz < 257, "one-byte component indices"
    extra = bytearray()
    for c in range(csiz):
        extra += _segment(0xFF53, bytes([c, cod[4] & 1]) + cod[9:])  # Ccoc Scoc SPcoc
        extra += _segment(0xFF5D, bytes([c]) + qcd[4:])  # Cqcc Sqcc SPqcc
    extra += _segment(0xFF63, b"".join(struct.pack(">HH", 0, 0) for _ in range(csiz)))
    return _join(main + bytes(extra), parts)


def _syntax(name: str, rewrite: Callable[[bytes], bytes], args: str, desc: str, *,
            ncomp: int = 3, bits: int = 8, seed: int = 22) -> None:
    argv = args.split()

    def make() -> Built:
        comps = components(64, 64, ncomp, bits, False, seed)
        return Built(rewrite(opj_compress(comps, bits, False, argv)), comps)

    _case(name, "opj_compress+rewrite", f"64x64x{ncomp} {bits}-bit {args}: {desc}", make)


_syntax("tileparts_interleaved", interleave_tileparts, "-t 32,32 -n 3 -r 4,1 -TP R",
        "tile-parts of the 4 tiles interleaved")
_syntax("tiles_reversed", reverse_tiles, "-t 32,32 -n 3 -r 4,1 -TP L",
        "tiles in reverse order")
_syntax("no_eoc", drop_eoc, "-t 32,32 -n 3", "EOC removed")
_syntax("last_psot_zero", last_psot_zero, "-t 32,32 -n 3 -TP C", "last Psot 0")
_syntax("tile_cod_qcd", tile_headers_repeat_cod_qcd, "-t 32,32 -n 3 -c [16,16] -b 8,8",
        "COD/QCD repeated in tile-part headers")
_syntax("coc_qcc_crg", main_header_coc_qcc_crg, "-n 3 -c [32,32],[16,16] -b 8,8",
        "COC/QCC per component and CRG in the main header")


# ------------------------------------------------------------------------------------------
# imagecodecs, glymur, pylibjpeg-openjpeg
# ------------------------------------------------------------------------------------------
def _ic(name: str, *, rows: int = 33, cols: int = 47, ncomp: int = 1, bits: int = 8,
        signed: bool = False, seed: int = 30, lossless: bool = True, **kwargs) -> None:
    def make() -> Built:
        import imagecodecs

        comps = components(rows, cols, ncomp, bits, signed, seed)
        kw = dict(level=0, reversible=True) if lossless else dict(reversible=False)
        kw.update(kwargs)
        data = imagecodecs.jpeg2k_encode(interleave(comps), codecformat="J2K",
                                         bitspersample=bits, numthreads=1, **kw)
        return Built(bytes(data), comps)

    desc = f"{rows}x{cols}x{ncomp} {bits}-bit {'signed' if signed else 'unsigned'} {kwargs}"
    _case(name, "imagecodecs", desc, make, lossless)


for _bits in range(1, 17):
    _ic(f"ic_bits_{_bits}u", bits=_bits, seed=30 + _bits)
for _bits in (1, 2, 3, 9, 12, 16):
    _ic(f"ic_bits_{_bits}s", bits=_bits, signed=True, seed=50 + _bits)
_ic("ic_rgb_mct", ncomp=3, mct=True)
_ic("ic_rgb_no_mct", ncomp=3, mct=False, bits=12)
_ic("ic_rgba", ncomp=4, rows=40, cols=40)
_ic("ic_2comp_16bit", ncomp=2, bits=16)
_ic("ic_resolutions_2", rows=64, cols=64, resolutions=2, bits=12)
_ic("ic_lossy_rgb", rows=64, cols=64, ncomp=3, level=40, lossless=False)
_ic("ic_lossy_16bit", rows=64, cols=64, bits=16, level=60, lossless=False)


def _gl(name: str, *, rows: int = 64, cols: int = 64, ncomp: int = 1, bits: int = 8,
        signed: bool = False, seed: int = 70, lossless: bool = True, **kwargs) -> None:
    def make() -> Built:
        import glymur

        comps = components(rows, cols, ncomp, bits, signed, seed)
        path = Path(tempfile.mkdtemp(dir=_tmpdir())) / f"{name}.j2k"  # glymur writes a new file
        try:
            glymur.Jp2k(str(path), data=interleave(comps), **kwargs)
            data = path.read_bytes()
        finally:
            shutil.rmtree(path.parent, True)
        return Built(data, comps)

    desc = f"{rows}x{cols}x{ncomp} {bits}-bit {'signed' if signed else 'unsigned'} {kwargs}"
    _case(name, "glymur", desc, make, lossless)


_gl("gl_psizes_rpcl", ncomp=3, psizes=[(64, 64), (32, 32)], cbsize=(16, 16), prog="RPCL",
    numres=4)
_gl("gl_modesw_63", bits=12, modesw=63, cbsize=(16, 16), cratios=[8, 2, 1])
_gl("gl_sop_eph_plt_tlm", ncomp=3, sop=True, eph=True, plt=True, tlm=True, tilesize=(32, 32),
    numres=3)
_gl("gl_subsam_2x2", bits=12, subsam=(2, 2))
_gl("gl_grid_offset", rows=33, cols=47, bits=12, grid_offset=(5, 7))
_gl("gl_cbsize_16x8", cbsize=(16, 8), bits=16)
_gl("gl_tiles_layers", ncomp=3, tilesize=(32, 32), numres=3, cratios=[10, 4, 1], prog="PCRL")
_gl("gl_irreversible_rates", bits=12, irreversible=True, cratios=[20, 5], lossless=False)
_gl("gl_psnr_layers", ncomp=3, psnr=[30, 40], lossless=False)
_gl("gl_16bit_numres_2", bits=16, numres=2)  # glymur writes unsigned 8 and 16 bits only


def _pl(name: str, *, rows: int = 33, cols: int = 47, ncomp: int = 1, bits: int = 8,
        signed: bool = False, seed: int = 90, lossless: bool = True, **kwargs) -> None:
    def make() -> Built:
        import openjpeg

        comps = components(rows, cols, ncomp, bits, signed, seed)
        data = openjpeg.encode(interleave(comps), bits_stored=bits, **kwargs)
        return Built(bytes(data), comps)

    desc = f"{rows}x{cols}x{ncomp} {bits}-bit {'signed' if signed else 'unsigned'} {kwargs}"
    _case(name, "pylibjpeg-openjpeg", desc, make, lossless)


for _bits in (1, 4, 9, 15, 17, 20, 24):  # above 16 bits: only this encoder writes them
    _pl(f"pl_bits_{_bits}s", bits=_bits, signed=True, seed=90 + _bits)
    _pl(f"pl_bits_{_bits}u", bits=_bits, seed=95 + _bits)
_pl("pl_rgb_mct", ncomp=3, photometric_interpretation=1, use_mct=True)
_pl("pl_rgb_no_mct", ncomp=3, photometric_interpretation=1, use_mct=False, bits=12)
_pl("pl_rate_layers_97", rows=64, cols=64, bits=12, compression_ratios=[20, 5, 1],
    lossless=False)  # rates make pylibjpeg-openjpeg use 9/7
_pl("pl_psnr_layers_lossy", rows=64, cols=64, bits=16, signal_noise_ratios=[40, 60],
    lossless=False)
_pl("pl_rate_lossy_rgb", rows=64, cols=64, ncomp=3, photometric_interpretation=1,
    compression_ratios=[12], lossless=False)
_pl("pl_tlm_plt", rows=64, cols=64, bits=16, signed=True, add_tlm=True, add_plt=True)


# ------------------------------------------------------------------------------------------
# Header facts the tests need (layers, levels, subsampling)
# ------------------------------------------------------------------------------------------
def codestream_of(data: bytes) -> bytes:
    """The codestream itself: `data` unless it is a JP2 file (then its jp2c box)."""
    if data[:2] == b"\xff\x4f":
        return data
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1:
            length, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif length == 0:
            length = len(data) - pos
        if kind == b"jp2c":
            return data[pos + header:pos + length]
        pos += length
    raise ValueError("no codestream (jp2c box) found")


@dataclasses.dataclass(frozen=True)
class MainHeader:
    """What the main header's SIZ and COD say (T.800 A.5.1, A.6.1)."""

    components: int
    precision: tuple[int, ...]  # bits per component
    signed: tuple[bool, ...]
    subsampling: tuple[tuple[int, int], ...]
    layers: int
    levels: int
    reversible: bool  # 5/3 wavelet (COD transformation 1), else 9/7


def main_header(data: bytes) -> MainHeader:
    """SIZ and COD of `data` (a codestream or a JP2 file)."""
    cs = codestream_of(data)
    pos, siz, cod = 2, None, None
    while pos + 4 <= len(cs):
        marker, length = struct.unpack_from(">HH", cs, pos)
        if marker == SOT:
            break
        if marker == 0xFF51:
            siz = cs[pos + 4:pos + 2 + length]
        elif marker == 0xFF52:
            cod = cs[pos + 4:pos + 2 + length]
        pos += 2 + length
    if siz is None or cod is None:
        raise ValueError("main header without SIZ or COD")
    csiz = struct.unpack_from(">H", siz, 34)[0]
    ssiz = [siz[36 + 3 * k] for k in range(csiz)]
    sub = tuple((siz[36 + 3 * k + 1], siz[36 + 3 * k + 2]) for k in range(csiz))
    layers = struct.unpack_from(">H", cod, 2)[0]
    return MainHeader(csiz, tuple((v & 0x7F) + 1 for v in ssiz), tuple(v >= 0x80 for v in ssiz),
                      sub, layers, cod[5], cod[9] == 1)
