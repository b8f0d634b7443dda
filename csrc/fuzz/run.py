"""Build the libFuzzer targets and run each one on seeds cut from DICOM files.

    python csrc/fuzz/run.py [--seconds 60 | --runs 1000000] [--only rle,ljpeg,tsan,fp] [--corpus DIR]

Seeds: whole files for fuzz_parse; single encoded frames (extracted by turbodicom itself) for
the codec targets; cut from the corpus (--corpus, $TURBODICOM_CORPUS, ../shared/corpus) when it
is there, else from the package's own test data (pydicom's bundled files, tests/data, files
encoded on the spot), plus small frames generated with the installed encoders.  Crashing
inputs are written to ./fuzz-artifacts/; copy each into tests/data/crashers/ (the suite
replays them).  Exits non-zero if any target crashed in our code; a known assert() inside a
system library (KNOWN_LIBRARY_ABORTS) restarts the run.

Then ("tsan") the JPEG 2000 decoder's threads under ThreadSanitizer: tsan_j2kdec decodes the
j2kdec seeds as whole frames and larger generated streams (big enough that 2 and 4 threads
share their code-blocks, strips and DWT) on 1, 2 and 4 threads; any data race or any
difference from one thread fails.  Then ("fp") the same inputs through the decoder built for
the baseline x86-64, for x86-64-v3 (FMA) and without its x86 paths (portable C, as on other
machines): any difference in the decoded bytes fails (the float arithmetic must not be fused
into FMAs: TD_FP_FLAGS; the vector, assembly and LZCNT versions must equal the C).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build-fuzz"
TARGETS = {
    "rle": ("fuzz_rle", ("1.2.840.10008.1.2.5",)),
    "ljpeg": ("fuzz_ljpeg", ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")),
    "jpegdct": ("fuzz_jpegdct", ("1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.50")),
    "j2k": ("fuzz_j2k", ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
                         "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                         "1.2.840.10008.1.2.4.203")),
    "j2kdec": ("fuzz_j2kdec", ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
                               "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                               "1.2.840.10008.1.2.4.203")),
    "jpeg": ("fuzz_jpeg", ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")),
    "jls": ("fuzz_jls", ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")),
    "jlsdec": ("fuzz_jlsdec", ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")),
    "parse": ("fuzz_parse", ()),
    "scan": ("fuzz_scan", ()),
}

# Inputs are cut to this many bytes unless --max-len says otherwise: a whole 512 x 512 frame
# costs milliseconds under ASan; its first 4 KiB (and the generated seeds, all smaller)
# exercise the same code many times faster.
DEFAULT_MAX_LEN = {"jpegdct": 4096, "j2kdec": 8192}

#: assert() failures inside a system library (not our code) that end a run: the run is
#: restarted until --runs executions are done, and the inputs are kept in fuzz-artifacts/
#: (see tests/data/library-aborts/).  Debian builds libcharls2 2.4.1 and libopenjp2 2.5.0
#: without NDEBUG.
KNOWN_LIBRARY_ABORTS = {
    "jls": ("charls::context_run_mode::compute_error_value",
            "charls::context_run_mode::get_golomb_code"),
    # OpenJPEG 2.5.0's HT decoder (fixed upstream in 2.5.1, PR #1436)
    "j2k": ("mel_init",),
}


def build() -> None:
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(BUILD), "-G", "Ninja",
                    "-DCMAKE_C_COMPILER=clang", "-DCMAKE_CXX_COMPILER=clang++",
                    "-DTD_FUZZ=ON", "-DCMAKE_BUILD_TYPE=Debug"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(BUILD), "--target", "fuzzers"], check=True,
                   stdout=subprocess.DEVNULL)


def seed_files(corpus: Path | None, scratch: Path) -> list[Path]:
    """The DICOM files seeds are cut from: the corpus's (MANIFEST.tsv) when it is there;
    otherwise the package's own test data: pydicom's bundled test files (when pydicom is
    installed), tests/data/crashers, and files of every transfer syntax this build decodes
    written into `scratch` on the spot (real frames re-encoded with turbodicom's RLE encoder and
    the installed encoders, as ``turbodicom bench`` makes them)."""
    import csv

    if corpus is not None and (corpus / "MANIFEST.tsv").is_file():
        with open(corpus / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
            return [corpus / r["path"] for r in csv.DictReader(f, delimiter="\t")]
    files = sorted((ROOT / "tests" / "data" / "crashers").glob("*.dcm"))
    try:
        import pydicom
    except ImportError:
        return files
    bundled = Path(pydicom.__file__).parent / "data" / "test_files"
    files += sorted(f for f in bundled.rglob("*") if f.is_file())
    try:
        from turbodicom import bench

        scratch.mkdir(parents=True, exist_ok=True)
        files += [Path(w.path) for w in bench._bundled_workloads(True, scratch)
                  if Path(w.path).is_relative_to(scratch)]
    except Exception as exc:  # noqa: BLE001 - fewer seeds, not no fuzzing
        print(f"seeds: no generated files ({type(exc).__name__}: {exc})")
    return files


def seeds(name: str, syntaxes: tuple[str, ...], files: list[Path], out: Path) -> int:
    """Write seed inputs for one target; returns how many."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in files:
        if name in ("parse", "scan"):
            if path.stat().st_size <= 1 << 20:
                shutil.copy(path, out / f"{n:04d}")
                n += 1
            continue
        try:
            from turbodicom.frames import open_pixels

            with open_pixels(str(path)) as px:
                if px.module.transfer_syntax_uid not in syntaxes:
                    continue
                frame = bytes(px.frame(0))
        except Exception:  # noqa: BLE001 - a file turbodicom cannot split is no seed
            continue
        if len(frame) <= 1 << 20:
            if name == "rle":  # the target takes rows, columns, samples, bits from 4 bytes
                frame = _rle_head(px.module.rows, px.module.columns,
                                  px.module.samples_per_pixel, px.module.bits_allocated) + frame
            (out / f"{n:04d}").write_bytes(frame)
            n += 1
    extra: list[bytes] = []
    if name == "jpegdct":
        n += generated_jpegdct_seeds(out, n)
    if name == "j2kdec":
        extra += _small_j2k_frames() + _small_htj2k_frames()
    if name in ("jls", "jlsdec"):
        extra += _small_jls_frames()
    if name in ("rle", "ljpeg", "jpeg", "j2k"):
        extra += _small_frames(name)
    for frame in extra:
        (out / f"{n:04d}").write_bytes(frame)
        n += 1
    return n


def _rle_head(rows: int, columns: int, samples_per_pixel: int, bits_allocated: int) -> bytes:
    """fuzz_rle's 4 parameter bytes: rows - 1, columns - 1, samples - 1 | bits code << 2."""
    bits = {1: 0, 8: 1, 16: 2, 32: 3, 64: 4}.get(bits_allocated, 1)
    return bytes([min(255, rows - 1), min(255, columns - 1),
                  (samples_per_pixel - 1) | (bits << 2), 0])


def _small_frames(name: str) -> list[bytes]:
    """Small frames made on the spot, so a target has seeds without any DICOM file: RLE with
    turbodicom's encoder; JPEG Lossless, JPEG, JPEG 2000 and HTJ2K with imagecodecs' encoders
    (libjpeg-turbo, OpenJPEG, OpenJPH) when installed."""
    import numpy as np

    rng = np.random.default_rng(0)
    grey8 = (np.add.outer(np.arange(19), np.arange(23)) * 5 % 256).astype(np.uint8)
    grey16 = (grey8.astype(np.uint16) << 4) | rng.integers(0, 16, grey8.shape, np.uint16)
    rgb8 = np.stack([grey8, grey8[::-1], rng.integers(0, 256, grey8.shape, np.uint8)], -1)
    frames: list[bytes] = []
    if name == "rle":
        import turbodicom

        for arr in (grey8, grey16, rgb8):
            spp = arr.shape[2] if arr.ndim == 3 else 1
            bits = arr.dtype.itemsize * 8
            enc = turbodicom.encode_rle(np.ascontiguousarray(arr), rows=arr.shape[0],
                                        columns=arr.shape[1], samples_per_pixel=spp,
                                        bits_allocated=bits)
            frames.append(_rle_head(arr.shape[0], arr.shape[1], spp, bits) + bytes(enc))
        return frames
    try:
        import imagecodecs as ic
    except ImportError:
        return frames
    jobs: list = []
    if name == "ljpeg":
        jobs = [lambda p=p: ic.jpeg8_encode(grey16, lossless=True, predictor=p,
                                            bitspersample=12) for p in (1, 4, 7)]
        jobs += [lambda: ic.jpeg8_encode(rgb8, lossless=True, predictor=1),
                 lambda: ic.ljpeg_encode(grey16, bitspersample=12)]
    elif name == "jpeg":
        jobs = [lambda: ic.jpeg8_encode(grey8, level=75),
                lambda: ic.jpeg8_encode(rgb8, level=90, subsampling="422"),
                lambda: ic.jpeg8_encode(grey16 >> 4 << 4, level=90, bitspersample=12)]
    elif name == "j2k":
        jobs = [lambda: ic.jpeg2k_encode(grey16, level=0, codecformat="J2K", reversible=True),
                lambda: ic.jpeg2k_encode(rgb8, level=40, codecformat="J2K", reversible=False),
                lambda: ic.htj2k_encode(grey16, reversible=True),
                lambda: ic.htj2k_encode(rgb8, reversible=True)]
    for job in jobs:
        try:
            frames.append(bytes(job()))
        except Exception:  # noqa: BLE001 - an encoder this imagecodecs lacks
            pass
    return frames


def generated_jpegdct_seeds(out: Path, first: int) -> int:
    """Small streams the corpus lacks: 12-bit colour with subsampling, restart intervals, one
    scan per component, DNL, 16-bit quantisation tables (made by libjpeg-turbo through
    imagecodecs and rewritten by tests/jpeg_transcode.py).  Returns how many (0 without
    imagecodecs)."""
    try:
        import imagecodecs
        import numpy as np
    except ImportError:
        return 0
    sys.path.insert(0, str(ROOT / "tests"))
    import jpeg_transcode as jt

    rng = np.random.default_rng(0)
    streams = []
    for bits, spp, sub, shape in ((12, 1, None, (24, 40)), (12, 3, "420", (17, 33)),
                                  (8, 3, "422", (16, 24)), (12, 3, "440", (19, 9)),
                                  (8, 1, None, (9, 13))):
        dtype = np.uint8 if bits == 8 else np.uint16
        arr = rng.integers(0, 1 << bits, shape + ((spp,) if spp > 1 else ())).astype(dtype)
        stream = imagecodecs.jpeg8_encode(arr, level=80, bitspersample=bits, subsampling=sub)
        frame = jt.parse(stream)
        scans = [[c] for c in range(spp)]
        streams += [stream, jt.write(frame, restart_interval=2, fill=1),
                    jt.write(frame, scans=scans[::-1], dnl=True, pq16=True, se=0),
                    jt.write(frame, ac_code_length=14, restart_interval=1)]
    for i, stream in enumerate(streams):
        (out / f"{first + i:04d}").write_bytes(stream)
    return len(streams)


def _small_j2k_frames() -> list[bytes]:
    """Small JPEG 2000 streams (imagecodecs: 5/3 and 9/7, 1-16 bits, 1 and 3 components,
    several layers; opj_compress: SOP/EPH, POC, tile-parts, precincts, every code-block
    style), so most executions decode a whole image quickly; none without the encoders."""
    frames: list[bytes] = []
    try:
        import imagecodecs
        import numpy as np
    except ImportError:
        return frames
    rng = np.random.default_rng(0)
    for bits, shape in ((8, (21, 34)), (12, (17, 19)), (16, (33, 16)), (8, (19, 23, 3)),
                        (3, (8, 40))):
        img = rng.integers(0, 1 << bits, size=shape).astype(np.uint8 if bits <= 8 else np.uint16)
        for level in (0, 60):
            frames.append(bytes(imagecodecs.jpeg2k_encode(img, level=level, codecformat="j2k",
                                                          bitspersample=bits)))
    img = (rng.random((29, 37)) * 4095).astype("<u2")
    for args in (["-SOP", "-EPH", "-r", "10,1"], ["-M", "63", "-n", "3"],
                 ["-t", "16,16", "-TP", "R", "-PLT", "-n", "2"],
                 ["-p", "RPCL", "-c", "[16,16]", "-n", "3", "-I"],
                 ["-POC", "T0=0,0,1,3,1,CPRL", "-n", "3", "-r", "5,1"]):
        frames += _opj_compress(img, 12, args)
    return frames


def _opj_compress(img, bits: int, args: list[str]) -> list[bytes]:
    """img (rows x columns, or rows x columns x components; unsigned) encoded by Debian's
    opj_compress with `args`: [the codestream], or [] without opj_compress or if it fails."""
    opj = shutil.which("opj_compress")
    if not opj:
        return []
    import tempfile

    planes = img.transpose(2, 0, 1) if img.ndim == 3 else img[None]
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.rawl"), os.path.join(d, "out.j2k")
        planes.astype("<u2" if bits > 8 else "u1").tofile(src)
        size = f"{planes.shape[2]},{planes.shape[1]},{planes.shape[0]},{bits},u"
        r = subprocess.run([opj, "-i", src, "-o", dst, "-F", size, *args], capture_output=True)
        return [Path(dst).read_bytes()] if r.returncode == 0 else []


def _small_htj2k_frames() -> list[bytes]:
    """Small HTJ2K streams (OpenJPH through imagecodecs: reversible and irreversible, 1 and 3
    components, tiles and tile-parts) so executions reach the HT block decoder (ht.c); none
    without imagecodecs."""
    try:
        import imagecodecs
        import numpy as np
    except ImportError:
        return []
    rng = np.random.default_rng(14)
    frames = []
    for bits, shape in ((8, (21, 34)), (12, (17, 19)), (16, (33, 16)), (8, (19, 23, 3)),
                        (1, (8, 40))):
        y, x = np.mgrid[0:shape[0], 0:shape[1]]
        smooth = (np.sin(x / 3.0) + np.cos(y / 4.0) + 2) / 4 * ((1 << bits) - 1)
        if len(shape) == 3:
            smooth = np.stack([smooth] * 3, axis=-1)
        noise = rng.integers(0, max(2, (1 << bits) // 16), size=shape)
        img = np.clip(smooth + noise, 0, (1 << bits) - 1)
        img = img.astype(np.uint8 if bits <= 8 else np.uint16)
        for kw in ({"reversible": True}, {"reversible": False},
                   {"reversible": True, "tile": (16, 16), "tilepart": 1}):
            frames.append(bytes(imagecodecs.htj2k_encode(img, **kw)))
    return frames


def _small_jls_frames() -> list[bytes]:
    """Small JPEG-LS streams in every interleave mode, P 2..16 and NEAR 0/2 (pyjpegls), so
    most executions decode a whole image quickly; none without pyjpegls."""
    try:
        import jpeg_ls
        import numpy as np
    except ImportError:
        return []
    rng = np.random.default_rng(0)
    frames = []
    for bits in (2, 5, 8, 12, 16):
        dt = np.uint8 if bits <= 8 else np.uint16
        for spp, ilv in ((1, None), (3, 0), (3, 1), (3, 2)):
            shape = (13, 17) if spp == 1 else ((3, 13, 17) if ilv == 0 else (13, 17, 3))
            img = (rng.integers(0, 1 << bits, size=shape) // 3 * 3).astype(dt)
            img.flat[0] = (1 << bits) - 1
            for near in (0, 2):
                frames.append(bytes(jpeg_ls.encode_array(img, lossy_error=near,
                                                         interleave_mode=ilv)))
    return frames


def _tsan_frames() -> list[bytes]:
    """JPEG 2000 and HTJ2K streams of 128K-300K samples, so that the decoder shares them among
    threads (smaller frames decode on one), and a 4096x256 one of 1M samples for the whole-tile
    path's DWT on several threads (dwt.c: a thread per 512K samples): OpenJPEG through
    imagecodecs and opj_compress (5/3 and 9/7, 1 and 3 components, code-block shapes,
    precincts, tiles, odd origins), OpenJPH through imagecodecs; none without the encoders."""
    try:
        import imagecodecs
        import numpy as np
    except ImportError:
        return []
    rng = np.random.default_rng(13)

    def image(rows: int, cols: int, ncomp: int, bits: int) -> np.ndarray:
        y, x = np.mgrid[0:rows, 0:cols]
        smooth = (np.sin(x / 23.0) + np.cos(y / 17.0) + 2) / 4 * ((1 << bits) - 1)
        shape = (rows, cols) + ((ncomp,) if ncomp > 1 else ())
        if ncomp > 1:
            smooth = np.stack([smooth, smooth[::-1], smooth[:, ::-1]], axis=-1)
        noise = rng.integers(0, max(2, (1 << bits) // 32), size=shape)
        img = np.clip(smooth + noise, 0, (1 << bits) - 1)
        return img.astype(np.uint8 if bits <= 8 else np.uint16)

    grey16, rgb8 = image(512, 384, 1, 16), image(360, 400, 3, 8)
    jobs = [lambda: imagecodecs.jpeg2k_encode(grey16, level=0, codecformat="j2k"),
            lambda: imagecodecs.jpeg2k_encode(grey16, level=50, codecformat="j2k",
                                              reversible=False),
            lambda: imagecodecs.jpeg2k_encode(rgb8, level=0, codecformat="j2k"),
            lambda: imagecodecs.htj2k_encode(grey16, reversible=True),
            lambda: imagecodecs.htj2k_encode(rgb8, reversible=True),
            lambda: imagecodecs.htj2k_encode(rgb8, reversible=False)]
    frames = []
    for job in jobs:
        try:
            frames.append(bytes(job()))
        except Exception:  # noqa: BLE001 - an encoder this imagecodecs lacks
            pass
    for rows, cols, ncomp, bits, args in (
            (400, 360, 3, 8, "-b 32,32 -n 3 -d 1,0"), (384, 512, 1, 16, "-I -b 64,16 -n 4"),
            (517, 389, 3, 8, "-b 16,16 -n 4 -d 3,5"),
            (640, 480, 1, 12, "-I -b 16,64 -n 3 -c [32,32],[16,16]"),
            (600, 500, 1, 16, "-b 64,64 -n 5 -t 256,256"),
            (400, 360, 3, 8, "-I -r 10 -n 3 -t 64,48"),
            (256, 4096, 1, 12, "-I -r 20 -n 4")):
        frames += _opj_compress(image(rows, cols, ncomp, bits), bits, args.split())
    return frames


_J2K_INPUTS: list[str] = []


def _j2k_inputs(files: list[Path]) -> list[str]:
    """The j2kdec seeds and _tsan_frames() as files (made once per run), for tsan and fp."""
    if not _J2K_INPUTS:
        work = BUILD / "j2k-inputs"
        shutil.rmtree(work, ignore_errors=True)
        n = seeds("j2kdec", TARGETS["j2kdec"][1], files, work)
        for frame in _tsan_frames():
            (work / f"{n:04d}").write_bytes(frame)
            n += 1
        _J2K_INPUTS.extend(sorted(map(str, work.iterdir())))
    return _J2K_INPUTS


def tsan(files: list[Path]) -> bool:
    """tsan_j2kdec on the j2kdec seeds and _tsan_frames(); True if it passed."""
    binary = next(BUILD.rglob("tsan_j2kdec"), None)
    if binary is None:
        print("tsan_j2kdec: not built")
        return False
    inputs = _j2k_inputs(files)
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1:exitcode=66")
    proc = subprocess.run([str(binary), *inputs], env=env, capture_output=True, text=True)
    last = proc.stdout.strip().splitlines()[-1:] or [""]
    print(f"tsan_j2kdec: {len(inputs)} inputs, exit {proc.returncode}: {last[0]}")
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:])
    return proc.returncode == 0


def fp(files: list[Path]) -> bool:
    """The decoder built for x86-64-v3 (FMA) and the portable one give the bytes of the baseline
    build on the same inputs (sums_j2kdec_*); True if so, or if this is not an x86-64 machine
    (v3 alone is skipped on a machine without it)."""
    builds = {v: next(BUILD.rglob(f"sums_j2kdec_{v}"), None) for v in ("base", "v3", "portable")}
    if None in builds.values():
        print("sums_j2kdec: not built (not x86-64)")
        return True
    inputs = _j2k_inputs(files)
    a = subprocess.run([str(builds["base"]), *inputs], capture_output=True, text=True)
    sums = [ln for ln in a.stdout.splitlines() if not ln.startswith("tsan_j2kdec:")]
    ok = a.returncode == 0
    if not ok:
        print(f"sums_j2kdec_base: exit {a.returncode}", a.stdout[-500:], a.stderr[-2000:])
    for variant in ("v3", "portable"):
        b = subprocess.run([str(builds[variant]), *inputs], capture_output=True, text=True)
        if variant == "v3" and b.returncode < 0:
            print(f"sums_j2kdec_v3: killed by signal {-b.returncode} (no x86-64-v3 here): skipped")
            continue
        other = [ln for ln in b.stdout.splitlines() if not ln.startswith("tsan_j2kdec:")]
        diff = [f"{x}  |  {y}" for x, y in zip(sums, other) if x != y]
        same = b.returncode == 0 and len(sums) == len(other) and not diff
        print(f"sums_j2kdec: {len(sums)} decodes, {variant} build "
              f"{'equal to' if same else 'differs from'} the baseline build")
        if not same:
            print("\n".join(diff[:20]), b.stdout[-500:], b.stderr[-2000:])
        ok = ok and same
    return ok


def _crash_report(stderr: str, head: int = 40) -> str:
    """What a failed run printed worth reading in a CI log: the report's first `head` lines
    (its cause and the innermost frames, from the first sanitizer or libFuzzer ERROR line, or
    a failed assertion) and the last 1,500 characters (the artifact's path and the stats)."""
    lines = stderr.splitlines()
    start = next((i for i, ln in enumerate(lines)
                  if "ERROR: " in ln or "runtime error:" in ln or "Assertion" in ln), None)
    tail = stderr[-1500:]
    if start is None:
        return stderr[-3000:]
    return "\n".join(lines[start:start + head]) + "\n...\n" + tail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--only", default="")
    ap.add_argument("--max-len", type=int, default=0,
                    help="libFuzzer -max_len (inputs are cut to this many bytes)")
    ap.add_argument("--corpus", default=os.environ.get(
        "TURBODICOM_CORPUS", str(ROOT.parent / "shared" / "corpus")))
    args = ap.parse_args()
    build()
    corpus = Path(args.corpus)
    files = seed_files(corpus, BUILD / "seed-files")
    print(f"seeds cut from {len(files)} files "
          f"({'the corpus' if (corpus / 'MANIFEST.tsv').is_file() else 'own test data'})")
    only = args.only.split(",") if args.only else []
    names = [n for n in TARGETS if not only or n in only]
    failed = []
    artifacts = ROOT / "fuzz-artifacts"
    artifacts.mkdir(exist_ok=True)
    for name in names:
        exe, syntaxes = TARGETS[name]
        binary = next(BUILD.rglob(exe), None)
        if binary is None:
            print(f"{exe}: not built (library missing?)")
            continue
        work = BUILD / "fuzz-corpus" / name
        nseeds = seeds(name, syntaxes, files, work)
        cmd = [str(binary), str(work), f"-artifact_prefix={artifacts}/{name}-",
               "-print_final_stats=1", "-rss_limit_mb=2048", "-timeout=20"]
        max_len = args.max_len or DEFAULT_MAX_LEN.get(name, 0)
        if max_len:
            cmd.append(f"-max_len={max_len}")
        total, restarts = 0, []
        while True:
            limit = (f"-runs={args.runs - total}" if args.runs
                     else f"-max_total_time={args.seconds or 30}")
            proc = subprocess.run(cmd + [limit], capture_output=True, text=True)
            execs = [ln for ln in proc.stderr.splitlines()
                     if "stat::number_of_executed_units" in ln]
            total += int(execs[-1].split(":")[-1]) if execs else 0
            known = [k for k in KNOWN_LIBRARY_ABORTS.get(name, ()) if k in proc.stderr]
            if proc.returncode != 0 and known:
                restarts.append(known[0])
            if proc.returncode == 0 or not known or not args.runs or total >= args.runs:
                break
        note = (f", {len(restarts)} known library aborts ({', '.join(sorted(set(restarts)))})"
                if restarts else "")
        print(f"{exe}: {nseeds} seeds, exit {proc.returncode}, {total} executions{note}")
        if proc.returncode != 0 and not known:
            failed.append(exe)
            print(_crash_report(proc.stderr))
    if (not only or "tsan" in only) and not tsan(files):
        failed.append("tsan_j2kdec")
    if (not only or "fp" in only) and not fp(files):
        failed.append("sums_j2kdec")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
