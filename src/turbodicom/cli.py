"""The turbodicom command line: info, decode, scan and bench.

A user's mistake (a missing file, a tag that is not one, an output format turbodicom does not
write, a file that cannot be decoded, ...) ends in one line on stderr, ``turbodicom: ...``, and
exit status 2, never in a traceback (set TURBODICOM_TRACEBACK=1 to see one).  Inputs, tags and
the output format are checked before any work starts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from typing import Any, Callable, Sequence

import turbodicom

DESCRIPTION = "Fast DICOM pixel decoding and tag scanning."
EPILOG = """examples:
  turbodicom info
  turbodicom decode image.dcm --index 0 -o frame0.npy
  turbodicom scan /data/dicom -t PatientID,Rows -t "(0020,0032)" -o index.parquet
  turbodicom bench --quick

Run 'turbodicom COMMAND --help' for the options of one command."""


class CommandError(Exception):
    """A user's mistake or a failure reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line: ``turbodicom: <problem> (see ... --help)``."""

    def error(self, message: str) -> Any:
        self.exit(2, f"turbodicom: {message} (see '{self.prog} --help')\n")


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _check_inputs(paths: Sequence[str], *, files_only: bool = False) -> None:
    """CommandError for an input path that does not exist (or is a folder, `files_only`)."""
    for path in paths:
        if not os.path.exists(path):
            raise CommandError(f"{path}: no such file or folder")
        if files_only and os.path.isdir(path):
            raise CommandError(f"{path}: is a folder, not a file")
        if not os.access(path, os.R_OK | (os.X_OK if os.path.isdir(path) else 0)):
            raise CommandError(f"{path}: permission denied")


def _check_output(path: str, formats: dict[str, str]) -> str:
    """The output format (a key of `formats`) of `path`; CommandError before any work when
    turbodicom does not write it or its folder does not exist."""
    if os.path.isdir(path):
        raise CommandError(f"cannot write {path}: it is a folder")
    ext = os.path.splitext(path)[1].lower()
    if ext not in formats:
        known = ", ".join(f"{e} ({name})" for e, name in formats.items())
        raise CommandError(f"cannot write {path}: unknown output format "
                           f"{ext or '(no extension)'}; use {known}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"cannot write {path}: folder {folder} does not exist")
    return ext


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

    _check_inputs([args.file], files_only=True)
    _check_output(args.output, {".npy": "NumPy array"})
    try:
        arr = turbodicom.decode(args.file, index=args.index, threads=args.threads)
    except (turbodicom.TurboDicomError, IndexError) as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    np.save(args.output, arr)
    print(f"{args.file}: {arr.shape} {arr.dtype} -> {args.output}")
    return 0


_HEX4 = re.compile(r"^[0-9A-Fa-f]{4}$")


def split_tags(groups: Sequence[str]) -> list[str]:
    """The tags of repeated ``-t`` options, each a comma-separated list.

    A comma inside parentheses belongs to the tag, ``(0020,0032)``; two bare groups of four
    hex digits in a row are one tag, ``0020,0032``.  Other forms (keywords, ``00200032``,
    ``0x00200032``) pass through to :func:`turbodicom.scan.resolve_tags`.
    """
    tags: list[str] = []
    for group in groups:
        parts: list[str] = []
        depth = 0
        current = ""
        for ch in group:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    raise CommandError(f"-t {group}: a ')' without its '('")
            if ch == "," and depth == 0:
                parts.append(current.strip())
                current = ""
            else:
                current += ch
        if depth != 0:
            raise CommandError(f"-t {group}: a '(' without its ')'")
        parts.append(current.strip())
        i = 0
        while i < len(parts):
            if (_HEX4.match(parts[i]) and i + 1 < len(parts)
                    and _HEX4.match(parts[i + 1])):
                tags.append(f"({parts[i]},{parts[i + 1]})")
                i += 2
                continue
            if parts[i]:
                tags.append(parts[i])
            i += 1
    if not tags:
        raise CommandError("-t: no tags given")
    return tags


def _json_value(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    return v


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return "\\".join(_csv_cell(x) for x in v)
    return str(v)


def _write_jsonl(result: Any, out: str | None) -> None:
    """One JSON object per file, the values as read (lists stay lists, bytes become hex)."""
    f = sys.stdout if out in (None, "-") else open(out, "w", encoding="utf-8")
    try:
        for row in result:
            f.write(json.dumps({k: _json_value(v) for k, v in row.items()}, default=str)
                    + "\n")
    finally:
        if f is not sys.stdout:
            f.close()


def _write_csv(result: Any, out: str) -> None:
    """The typed columns (ScanResult.typed_columns) as text: lists joined with a backslash,
    bytes as hex, null as an empty cell."""
    import csv

    columns = result.typed_columns()
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(list(columns))
        for i in range(len(result)):
            w.writerow([_csv_cell(col[i]) for col in columns.values()])


def _write_parquet(result: Any, out: str) -> None:
    import pyarrow.parquet as pq

    pq.write_table(result.to_arrow(), out)


_SCAN_FORMATS = {".parquet": "Parquet", ".csv": "CSV", ".jsonl": "JSON lines"}


def cmd_scan(args: argparse.Namespace) -> int:
    import time

    from turbodicom.scan import iter_paths, resolve_tags, scan

    tags = split_tags(args.tags)
    try:
        resolve_tags(tags)
    except (ValueError, TypeError) as exc:
        raise CommandError(f"-t: {exc}") from None
    out = args.output
    ext = ".jsonl" if out in (None, "-") else _check_output(out, _SCAN_FORMATS)
    if ext == ".parquet":
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise CommandError("writing Parquet needs pyarrow: pip install "
                               "'turbodicom[scan]'") from None
    _check_inputs(args.paths)
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
    if ext == ".parquet":
        _write_parquet(result, out)
    elif ext == ".csv":
        _write_csv(result, out)
    else:
        _write_jsonl(result, out)
    rate = len(result) / elapsed if elapsed > 0 else float("inf")
    print(f"scanned {len(result):,} files ({result.nr_errors:,} errors) in {elapsed:.2f} s: "
          f"{rate:,.0f} files/s", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from turbodicom import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="turbodicom", description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=turbodicom.__version__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    text = "version, supported transfer syntaxes, library versions"
    s = sub.add_parser("info", help=text, description=text[0].upper() + text[1:] + ".")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_info)

    text = "decode a file's pixel data to a .npy file"
    s = sub.add_parser("decode", help=text, description=text[0].upper() + text[1:] + ".")
    s.add_argument("file", help="a DICOM file")
    s.add_argument("--index", type=_int_at_least(0), default=None,
                   help="decode only this frame (0-based)")
    s.add_argument("--threads", type=_int_at_least(1), default=None,
                   help="frames decoded in parallel (default: every core)")
    s.add_argument("-o", "--output", required=True, help="output .npy path")
    s.set_defaults(func=cmd_decode)

    text = "read a few tags from many DICOM files"
    s = sub.add_parser("scan", help=text, description=text[0].upper() + text[1:] + (
        "; one row per file, the tag columns typed by the data dictionary in Parquet and CSV "
        "output, a 'warnings' column naming any value that does not fit."))
    s.add_argument("paths", nargs="+", help="files or folders (walked recursively)")
    s.add_argument("-t", "--tags", action="append", required=True, metavar="TAGS",
                   help="keywords or tags, comma-separated, repeatable: PatientID, "
                        "\"(0020,0032)\", 0020,0032, 00200032 or 0x00200032")
    s.add_argument("-o", "--output", default=None,
                   help="out.parquet, out.csv or out.jsonl (default: JSON lines on stdout)")
    s.add_argument("--threads", type=_int_at_least(1), default=None,
                   help="files scanned in parallel")
    s.add_argument("--no-recursive", action="store_true", help="do not descend into folders")
    s.set_defaults(func=cmd_scan)

    text = "time turbodicom against every installed peer"
    s = sub.add_parser("bench", help=text, description=text[0].upper() + text[1:] + ".")
    s.add_argument("paths", nargs="*", help="files or folders (default: built-in workload)")
    s.add_argument("--quick", action="store_true", help="smaller workload, shorter timings")
    s.add_argument("--level", action="append", choices=["frame", "file"],
                   help="only this level (repeatable)")
    s.add_argument("--min-time", type=_positive_float, default=None,
                   help="seconds of repeated runs per measurement (default 0.5, quick 0.1)")
    s.add_argument("--threads", type=_int_at_least(1), default=None,
                   help="threads for the multi-thread rows (each file; inside each JPEG 2000 / "
                        "HTJ2K frame)")
    s.add_argument("--peer-timeout", type=_positive_float, default=60.0,
                   help="seconds one decoder may take on one file (default 60)")
    s.add_argument("--json", help="also write the results to this JSON file")
    s.set_defaults(func=cmd_bench)
    return p


def _check_bench_args(args: argparse.Namespace) -> None:
    _check_inputs(args.paths)
    if args.json:
        _check_output(args.json, {".json": "JSON"})


def _fail(message: str) -> int:
    print("turbodicom: " + " ".join(message.split("\n")).strip(), file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for a user's mistake)."""
    args = build_parser().parse_args(argv)
    try:
        if args.func is cmd_bench:
            _check_bench_args(args)
        return int(args.func(args))
    except BrokenPipeError:
        # the reader went away (turbodicom scan ... | head): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except Exception as exc:
        if os.environ.get("TURBODICOM_TRACEBACK"):
            raise
        if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
            return _fail(f"{exc.filename}: {exc.strerror}")
        if isinstance(exc, (CommandError, turbodicom.TurboDicomError, OSError, ValueError,
                            IndexError, ImportError, MemoryError)):
            return _fail(str(exc) or type(exc).__name__)
        raise
