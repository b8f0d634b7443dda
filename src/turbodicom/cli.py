"""The ``turbodicom`` command: ``info``, ``decode``, ``scan`` and ``bench``."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any, Sequence

import turbodicom


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("numpy", "pydicom", "pylibjpeg", "pylibjpeg-rle", "pylibjpeg-libjpeg",
                 "pylibjpeg-openjpeg", "python-gdcm", "imagecodecs", "dicomsdl", "rich"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def cmd_info(args: argparse.Namespace) -> int:
    from turbodicom.codecs import SYNTAX_NAMES

    feats = turbodicom.features()
    if args.json:
        print(json.dumps({"version": turbodicom.__version__, "features": feats,
                          "libraries": _versions()}, indent=2))
        return 0
    print(f"turbodicom {turbodicom.__version__}")
    print("decodes:")
    for uid, codec in sorted(feats["decode"].items()):
        print(f"  {uid:<26} {SYNTAX_NAMES.get(uid, ''):<40} [{codec}]")
    print("encodes:")
    for uid, codec in sorted(feats["encode"].items()):
        print(f"  {uid:<26} {SYNTAX_NAMES.get(uid, ''):<40} [{codec}]")
    print("codec engines: " + ", ".join(f"{k}={v}" for k, v in feats["codecs"].items()))
    print("installed libraries: " + ", ".join(f"{k} {v}" for k, v in _versions().items()))
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    import numpy as np

    arr = turbodicom.decode(args.file, index=args.index, threads=args.threads)
    np.save(args.output, arr)
    print(f"{args.file}: {arr.shape} {arr.dtype} -> {args.output}")
    return 0


def _scan_cell(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return "\\".join(str(_scan_cell(x)) for x in v)
    return v


def cmd_scan(args: argparse.Namespace) -> int:
    import os
    import time

    from turbodicom.scan import iter_paths, scan

    tags = [t.strip() for group in args.tags for t in group.split(",") if t.strip()]
    files = list(iter_paths(args.paths, recursive=not args.no_recursive))
    t0 = time.perf_counter()
    prog = None
    if sys.stderr.isatty():
        try:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            prog = Progress(BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            transient=True)
        except ImportError:
            prog = None
    if prog is not None:
        with prog:
            task = prog.add_task("scanning", total=len(files))
            result = scan(files, tags, threads=args.threads,
                          progress=lambda done, total: prog.update(task, completed=done))
    else:
        result = scan(files, tags, threads=args.threads)
    elapsed = time.perf_counter() - t0
    out = args.output
    if out is None or out == "-" or out.endswith(".jsonl"):
        f = sys.stdout if out in (None, "-") else open(out, "w", encoding="utf-8")
        try:
            for row in result:
                f.write(json.dumps({k: _scan_cell(v) if isinstance(v, bytes) else v
                                    for k, v in row.items()}, default=str) + "\n")
        finally:
            if f is not sys.stdout:
                f.close()
    elif out.endswith(".csv"):
        import csv

        with open(out, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(list(result.columns))
            for row in result:
                w.writerow([_scan_cell(v) if v is not None else "" for v in row.values()])
    elif out.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            print("turbodicom: writing Parquet needs pyarrow: pip install 'turbodicom[scan]'",
                  file=sys.stderr)
            return 2
        pq.write_table(result.to_arrow(), out)
    else:
        print(f"turbodicom: unknown output format {os.path.splitext(out)[1]!r} (use .parquet, "
              ".csv or .jsonl)", file=sys.stderr)
        return 2
    rate = len(result) / elapsed if elapsed > 0 else float("inf")
    print(f"scanned {len(result):,} files ({result.nr_errors:,} errors) in {elapsed:.2f} s: "
          f"{rate:,.0f} files/s", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from turbodicom import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="turbodicom", description=__doc__)
    p.add_argument("--version", action="version", version=turbodicom.__version__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="version, supported transfer syntaxes, library versions")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("decode", help="decode a file's pixel data to a .npy file")
    s.add_argument("file")
    s.add_argument("--index", type=int, default=None, help="decode only this frame (0-based)")
    s.add_argument("--threads", type=int, default=None, help="frames decoded in parallel")
    s.add_argument("-o", "--output", required=True, help="output .npy path")
    s.set_defaults(func=cmd_decode)

    s = sub.add_parser("scan", help="read a few tags from many DICOM files")
    s.add_argument("paths", nargs="+", help="files or directories (walked recursively)")
    s.add_argument("-t", "--tags", action="append", required=True,
                   help="comma-separated keywords or (gggg,eeee) tags (repeatable)")
    s.add_argument("-o", "--output", default=None,
                   help="out.parquet, out.csv or out.jsonl (default: JSON lines on stdout)")
    s.add_argument("--threads", type=int, default=None, help="files scanned in parallel")
    s.add_argument("--no-recursive", action="store_true", help="do not descend into folders")
    s.set_defaults(func=cmd_scan)

    s = sub.add_parser("bench", help="time turbodicom against every installed peer")
    s.add_argument("paths", nargs="*", help="files or directories (default: built-in workload)")
    s.add_argument("--quick", action="store_true", help="smaller workload, shorter timings")
    s.add_argument("--level", action="append", choices=["frame", "file"],
                   help="only this level (repeatable)")
    s.add_argument("--min-time", type=float, default=None,
                   help="seconds of repeated runs per measurement (default 0.5, quick 0.1)")
    s.add_argument("--threads", type=int, default=None, help="threads for the multi-thread row")
    s.add_argument("--peer-timeout", type=float, default=60.0,
                   help="seconds one decoder may take on one file (default 60)")
    s.add_argument("--json", help="also write the results to this JSON file")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except turbodicom.TurboDicomError as exc:
        print(f"turbodicom: {exc}", file=sys.stderr)
        return 1
    except (OSError, IndexError) as exc:
        print(f"turbodicom: {exc}", file=sys.stderr)
        return 1
