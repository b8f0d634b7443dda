"""Scanning DICOM files for a few tags: :func:`scan` and :class:`ScanResult`.

Each file is walked by turbodicom's C tag scanner (``csrc/td_scan.c``) with the GIL released: it
reads the head of the file in growing chunks, seeks over every value it does not need, and stops
as soon as it has passed the last requested tag, so pixel data is never read.  Values come back
as pydicom gives them for ``ds.<Keyword>`` (plain Python types: a list instead of MultiValue,
float instead of DSfloat, int instead of IS, str instead of PersonName / UID).
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Iterator, Sequence, Union

from turbodicom import _scan

__all__ = ["scan", "ScanResult", "resolve_tags", "TagSpec", "BUILTIN_KEYWORDS", "BUILTIN_VM"]

TagSpec = Union[str, int, tuple[int, int]]
PathSpec = Union[str, "os.PathLike[str]"]

#: Keyword -> (tag, VR) for common attributes, so scan() works without pydicom.
BUILTIN_KEYWORDS: dict[str, tuple[int, str]] = {
    "FileMetaInformationGroupLength": (0x00020000, "UL"),
    "MediaStorageSOPClassUID": (0x00020002, "UI"),
    "MediaStorageSOPInstanceUID": (0x00020003, "UI"),
    "TransferSyntaxUID": (0x00020010, "UI"),
    "ImplementationClassUID": (0x00020012, "UI"),
    "ImplementationVersionName": (0x00020013, "SH"),
    "SpecificCharacterSet": (0x00080005, "CS"),
    "ImageType": (0x00080008, "CS"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "StudyDate": (0x00080020, "DA"),
    "SeriesDate": (0x00080021, "DA"),
    "AcquisitionDate": (0x00080022, "DA"),
    "ContentDate": (0x00080023, "DA"),
    "StudyTime": (0x00080030, "TM"),
    "SeriesTime": (0x00080031, "TM"),
    "AcquisitionTime": (0x00080032, "TM"),
    "ContentTime": (0x00080033, "TM"),
    "AccessionNumber": (0x00080050, "SH"),
    "Modality": (0x00080060, "CS"),
    "Manufacturer": (0x00080070, "LO"),
    "InstitutionName": (0x00080080, "LO"),
    "ReferringPhysicianName": (0x00080090, "PN"),
    "StationName": (0x00081010, "SH"),
    "StudyDescription": (0x00081030, "LO"),
    "SeriesDescription": (0x0008103E, "LO"),
    "ManufacturerModelName": (0x00081090, "LO"),
    "PatientName": (0x00100010, "PN"),
    "PatientID": (0x00100020, "LO"),
    "PatientBirthDate": (0x00100030, "DA"),
    "PatientSex": (0x00100040, "CS"),
    "PatientAge": (0x00101010, "AS"),
    "PatientWeight": (0x00101030, "DS"),
    "BodyPartExamined": (0x00180015, "CS"),
    "SliceThickness": (0x00180050, "DS"),
    "KVP": (0x00180060, "DS"),
    "SpacingBetweenSlices": (0x00180088, "DS"),
    "ProtocolName": (0x00181030, "LO"),
    "PatientPosition": (0x00185100, "CS"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "StudyID": (0x00200010, "SH"),
    "SeriesNumber": (0x00200011, "IS"),
    "AcquisitionNumber": (0x00200012, "IS"),
    "InstanceNumber": (0x00200013, "IS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "FrameOfReferenceUID": (0x00200052, "UI"),
    "SliceLocation": (0x00201041, "DS"),
    "SamplesPerPixel": (0x00280002, "US"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "PlanarConfiguration": (0x00280006, "US"),
    "NumberOfFrames": (0x00280008, "IS"),
    "Rows": (0x00280010, "US"),
    "Columns": (0x00280011, "US"),
    "PixelSpacing": (0x00280030, "DS"),
    "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"),
    "HighBit": (0x00280102, "US"),
    "PixelRepresentation": (0x00280103, "US"),
    "WindowCenter": (0x00281050, "DS"),
    "WindowWidth": (0x00281051, "DS"),
    "RescaleIntercept": (0x00281052, "DS"),
    "RescaleSlope": (0x00281053, "DS"),
    "RescaleType": (0x00281054, "LO"),
    "LossyImageCompression": (0x00282110, "CS"),
}
_BUILTIN_BY_TAG = {tag: (kw, vr) for kw, (tag, vr) in BUILTIN_KEYWORDS.items()}

#: Multi-valued attributes among BUILTIN_KEYWORDS: keyword -> dictionary VM (others have VM 1).
BUILTIN_VM: dict[str, str] = {
    "ImageType": "2-n", "SpecificCharacterSet": "1-n", "ImagePositionPatient": "3",
    "ImageOrientationPatient": "6", "PixelSpacing": "2", "WindowCenter": "1-n",
    "WindowWidth": "1-n",
}

#: A tag written as text: (gggg,eeee), gggg,eeee, ggggeeee or 0xggggeeee (spaces allowed
#: around the parts; parentheses, when present, balanced).
_HEX_TAG = re.compile(r"^(\()?\s*(?:0[xX])?([0-9A-Fa-f]{4})\s*,?\s*([0-9A-Fa-f]{4})\s*(?(1)\))$")
_KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def _pydicom_datadict() -> Any:
    try:
        from pydicom import datadict
    except ImportError:
        return None
    return datadict


def _tag_name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def resolve_tags(tags: Iterable[TagSpec] | TagSpec) -> list[tuple[str, int, str | None]]:
    """Resolve tag specifications to ``(column name, tag, dictionary VR or None)``.

    A specification is a keyword (``"PatientID"``), a ``(group, element)`` pair, an int
    (``0x00100020``) or a hex string (``"(0010,0020)"``, ``"0010,0020"``, ``"00100020"``,
    ``"0x00100020"``).  ValueError names a specification that is neither a known keyword nor
    a tag (with close keywords, for a typing mistake).  Keywords are looked up
    in pydicom's data dictionary when pydicom is installed, else in :data:`BUILTIN_KEYWORDS`.
    The column is named by the keyword when there is one, else ``"(gggg,eeee)"``.
    """
    if isinstance(tags, (str, int)) or (isinstance(tags, tuple) and len(tags) == 2
                                        and all(isinstance(x, int) for x in tags)):
        tags = [tags]  # type: ignore[list-item]
    dd = _pydicom_datadict()
    out: list[tuple[str, int, str | None]] = []
    for spec in tags:  # type: ignore[union-attr]
        tag: int | None = None
        if isinstance(spec, tuple):
            if len(spec) != 2:
                raise ValueError(f"a tag pair must be (group, element), got {spec!r}")
            tag = (int(spec[0]) << 16) | int(spec[1])
        elif isinstance(spec, int):
            tag = int(spec)
        elif isinstance(spec, str):
            m = _HEX_TAG.match(spec.strip())
            if m and spec not in BUILTIN_KEYWORDS:
                tag = (int(m.group(2), 16) << 16) | int(m.group(3), 16)
            elif dd is not None and dd.tag_for_keyword(spec) is not None:
                tag = int(dd.tag_for_keyword(spec))
            elif spec in BUILTIN_KEYWORDS:
                tag = BUILTIN_KEYWORDS[spec][0]
            elif not _KEYWORD.match(spec.strip()):
                raise ValueError(
                    f"{spec!r} is neither a DICOM keyword nor a tag (write a tag as "
                    "(gggg,eeee), gggg,eeee, ggggeeee or 0xggggeeee, in hexadecimal)")
            else:
                raise ValueError(f"unknown DICOM keyword {spec!r}{_keyword_hint(spec, dd)}")
        else:
            raise TypeError(f"a tag must be a keyword, an int or a (group, element) pair, "
                            f"got {type(spec).__name__}")
        if not 0 <= tag <= 0xFFFFFFFF:
            raise ValueError(f"tag {tag:#x} is out of range")
        name, vr = _keyword_and_vr(tag, dd)
        out.append((name, tag, vr))
    seen: set[int] = set()
    for name, tag, _ in out:
        if tag in seen:
            raise ValueError(f"tag {name} {_tag_name(tag)} is requested twice")
        seen.add(tag)
    return out


def _keyword_hint(spec: str, dd: Any) -> str:
    import difflib

    known = list(dd.keyword_dict) if dd is not None else list(BUILTIN_KEYWORDS)
    close = difflib.get_close_matches(spec, known, n=3)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    if dd is None:
        hint += (" (without pydicom only common keywords are known: pip install "
                 "'turbodicom[pydicom]' for the full data dictionary)")
    return hint


def _dictionary_vm(tag: int, dd: Any) -> str | None:
    """The data dictionary's VM of `tag` ("1", "2", "1-n", ...), or None when unknown."""
    if dd is not None:
        try:
            return str(dd.dictionary_VM(tag))
        except KeyError:
            return None
    entry = _BUILTIN_BY_TAG.get(tag)
    if entry is not None:
        return BUILTIN_VM.get(entry[0], "1")
    return "1" if (tag & 0xFFFF) == 0 else None


def _keyword_and_vr(tag: int, dd: Any) -> tuple[str, str | None]:
    if dd is not None:
        kw = dd.keyword_for_tag(tag)
        try:
            vr = dd.dictionary_VR(tag)
        except KeyError:
            vr = None
        if vr in ("US or SS", "US or SS or OW"):
            vr = "xs"  # US or SS, chosen by (0028,0103) Pixel Representation as pydicom does
        elif vr is not None:
            vr = vr[:2]  # "OB or OW", "US or OW": the first reading
        return (kw or _tag_name(tag)), vr
    if tag in _BUILTIN_BY_TAG:
        return _BUILTIN_BY_TAG[tag]
    if (tag & 0xFFFF) == 0:
        return _tag_name(tag), "UL"  # group length
    return _tag_name(tag), None


# ------------------------------------------------------------------------------------------
# Text in other character sets: pydicom's machinery when installed, else Python's codecs
# ------------------------------------------------------------------------------------------
_PYTHON_ENCODINGS = {
    "ISO_IR 6": "iso8859", "ISO_IR 100": "latin_1", "ISO_IR 101": "iso8859_2",
    "ISO_IR 109": "iso8859_3", "ISO_IR 110": "iso8859_4", "ISO_IR 144": "iso_ir_144",
    "ISO_IR 127": "iso_ir_127", "ISO_IR 126": "iso_ir_126", "ISO_IR 138": "iso_ir_138",
    "ISO_IR 148": "iso_ir_148", "ISO_IR 166": "iso_ir_166", "ISO_IR 13": "shift_jis",
    "ISO_IR 192": "UTF8", "GB18030": "GB18030", "GBK": "GBK", "ISO_IR 203": "iso8859_15",
}


def _decode_text(raw: bytes, charsets: list[str]) -> str:
    try:
        from pydicom.charset import convert_encodings, decode_bytes
        from pydicom.values import TEXT_VR_DELIMS
    except ImportError:
        enc = _PYTHON_ENCODINGS.get(charsets[0], "latin_1")
        return raw.decode(enc, "replace")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(decode_bytes(raw, convert_encodings(charsets), TEXT_VR_DELIMS))


# ------------------------------------------------------------------------------------------
# Paths
# ------------------------------------------------------------------------------------------
def iter_paths(paths: PathSpec | Iterable[PathSpec], recursive: bool = True) -> Iterator[str]:
    """Expand files, directories (walked in sorted order) and iterables of them to file paths."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]  # type: ignore[list-item]
    for p in paths:  # type: ignore[union-attr]
        p = os.fsdecode(p)
        if os.path.isdir(p):
            if recursive:
                for root, dirs, files in os.walk(p):
                    dirs.sort()
                    for name in sorted(files):
                        yield os.path.join(root, name)
            else:
                with os.scandir(p) as it:
                    entries = sorted(e.name for e in it if e.is_file())
                for name in entries:
                    yield os.path.join(p, name)
        else:
            yield p


_ERRNO = re.compile(r"\(errno (\d+)\)")


def _errno_text(msg: str) -> str:
    m = _ERRNO.search(msg)
    if m is None:
        return msg
    return msg[: m.start()].rstrip() + f": [Errno {m.group(1)}] " + os.strerror(int(m.group(1)))


# ------------------------------------------------------------------------------------------
# The result
# ------------------------------------------------------------------------------------------
class ScanResult(Sequence[dict[str, Any]]):
    """The values of the requested tags for every scanned file, one row per file.

    Rows are dicts ``{"path": str, "error": None or str, <keyword>: value, ...}``; a value is
    None when the element is absent (or when the file could not be scanned that far).  Columns are
    kept as lists: ``result.columns["PatientID"]``.  Rows and columns hold the values as read
    (a list where a file has several values, whatever the dictionary says).

    :meth:`to_arrow`, :meth:`to_pandas` and the command line's Parquet and CSV output give each
    tag column one type, from the attribute's data dictionary VR and VM (see :meth:`column_type`),
    never from the values seen: a value that does not fit its column (two values in a VM 1
    attribute, text that is not a number in an IS or DS attribute, ...) is left null there and
    described in that row's ``warnings`` column.
    """

    def __init__(self, paths: list[str], errors: list[str | None], names: list[str],
                 columns: list[list[Any]], tags: list[int],
                 vrs: list[str | None] | None = None, vms: list[str | None] | None = None) -> None:
        self.paths = paths
        self.errors = errors
        self.names = names
        self.tags = dict(zip(names, tags, strict=True))
        #: dictionary VR and VM of each tag column (None: not in the data dictionary)
        self.vrs: dict[str, str | None] = dict(zip(names, vrs or [None] * len(names),
                                                   strict=True))
        self.vms: dict[str, str | None] = dict(zip(names, vms or [None] * len(names),
                                                   strict=True))
        self.columns: dict[str, list[Any]] = {"path": paths, "error": errors}
        for name, col in zip(names, columns, strict=True):
            self.columns[name] = col

    def __len__(self) -> int:
        return len(self.paths)

    def _row(self, i: int) -> dict[str, Any]:
        return {name: col[i] for name, col in self.columns.items()}

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(i, int):
            raise TypeError("ScanResult indices must be integers")
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("ScanResult index out of range")
        return self._row(i)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self._row(i)

    def __repr__(self) -> str:
        bad = sum(e is not None for e in self.errors)
        return f"<ScanResult: {len(self)} files, {len(self.names)} tags, {bad} errors>"

    @property
    def nr_errors(self) -> int:
        return sum(e is not None for e in self.errors)

    def column_type(self, name: str) -> tuple[str, bool] | None:
        """The type of tag column `name` in typed output: ``(kind, is_list)`` or None.

        `kind` is ``"int"`` (VR US, SS, UL, SL, SV, IS, AT, "US or SS"), ``"uint"`` (UV),
        ``"float"`` (DS, FL, FD), ``"str"`` (text VRs, and SQ, always null) or ``"bytes"``
        (OB, OW, OD, OF, OL, OV, UN); `is_list` is True when the dictionary VM allows more
        than one value ("2", "1-n", ...), and then every value is a list (one value: a list of
        one).  None for a tag not in the data dictionary (a private tag, or any tag outside
        :data:`BUILTIN_KEYWORDS` without pydicom): its type is inferred from the values.
        """
        return _column_kind(self.vrs[name], self.vms[name])

    def typed_columns(self) -> dict[str, list[Any]]:
        """The columns as typed output holds them: ``path``, ``error``, ``warnings``, tags.

        Each tag column's values are converted to its :meth:`column_type` (an int for an
        integer column, a float for a float column, a list of them for a multi-valued one,
        None where the element is absent or empty).  A value that does not fit is None here and
        named in the row's ``warnings`` (``"; "``-separated, None when all values fit), e.g.
        ``Rows: [32768, 0] does not fit its integer column (VR US, VM 1), left null``.
        Columns of tags not in the data dictionary are returned as read.
        """
        warnings: list[str | None] = [None] * len(self)
        typed: dict[str, list[Any]] = {}
        for name in self.names:
            col = self.columns[name]
            kind = self.column_type(name)
            if kind is None:
                typed[name] = col
                continue
            values, misfits = _fit_column(col, *kind)
            for i in misfits:
                vr = "US or SS" if self.vrs[name] == "xs" else self.vrs[name]
                note = (f"{name}: {_short(col[i])} does not fit its {_describe(*kind)} column "
                        f"(VR {vr}, VM {self.vms[name]}), left null")
                warnings[i] = note if warnings[i] is None else f"{warnings[i]}; {note}"
            typed[name] = values
        return {"path": self.paths, "error": self.errors, "warnings": warnings, **typed}

    def to_pandas(self) -> Any:
        """A pandas DataFrame with one row per file (needs pandas: ``turbodicom[scan]``).

        Columns ``path``, ``error``, ``warnings`` and one per tag, typed as
        :meth:`typed_columns` says: integer columns are pandas' nullable ``Int64`` (``UInt64``
        for UV), float columns ``Float64``, text, bytes and list columns ``object``.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("ScanResult.to_pandas() needs pandas: pip install "
                              "'turbodicom[scan]'") from exc
        data: dict[str, Any] = {}
        for name, values in self.typed_columns().items():
            kind = self.column_type(name) if name in self.vrs else None
            dtype = {("int", False): "Int64", ("uint", False): "UInt64",
                     ("float", False): "Float64"}.get(kind or ("", False), object)
            data[name] = pd.array(values, dtype=dtype) if dtype is not object else \
                pd.Series(values, dtype=object)
        return pd.DataFrame(data, columns=list(data))

    def to_arrow(self) -> Any:
        """A pyarrow Table with one row per file (needs pyarrow: ``turbodicom[scan]``).

        Columns ``path``, ``error``, ``warnings`` (strings) and one per tag, typed from the
        data dictionary as :meth:`typed_columns` says: ``int64`` (``uint64`` for UV),
        ``float64``, ``string`` or ``binary``, or a ``list`` of those for a multi-valued VM.
        A tag not in the data dictionary gets the type pyarrow infers from its values, or
        ``string`` when they mix types.
        """
        try:
            import pyarrow as pa
        except ImportError as exc:
            raise ImportError("ScanResult.to_arrow() needs pyarrow: pip install "
                              "'turbodicom[scan]'") from exc
        scalar = {"int": pa.int64(), "uint": pa.uint64(), "float": pa.float64(),
                  "str": pa.string(), "bytes": pa.binary()}
        arrays = {}
        for name, col in self.typed_columns().items():
            kind = self.column_type(name) if name in self.vrs else ("str", False)
            if kind is None:
                try:
                    arrays[name] = pa.array(col)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                    arrays[name] = pa.array([None if v is None else _as_text(v) for v in col],
                                            type=pa.string())
                continue
            t = scalar[kind[0]]
            arrays[name] = pa.array(col, type=pa.list_(t) if kind[1] else t)
        return pa.table(arrays)


def _as_text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return "\\".join(_as_text(x) for x in v)
    return str(v)


# ------------------------------------------------------------------------------------------
# Column types from the data dictionary
# ------------------------------------------------------------------------------------------
_KIND_BY_VR = {vr: kind for kind, vrs in (
    ("int", ("US", "SS", "UL", "SL", "SV", "IS", "AT", "xs")),
    ("uint", ("UV",)),
    ("float", ("DS", "FL", "FD")),
    ("str", ("AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
             "UR", "UT", "SQ")),
    ("bytes", ("OB", "OD", "OF", "OL", "OV", "OW", "UN")),
) for vr in vrs}

_INT_RANGE = {"int": (-(1 << 63), 1 << 63), "uint": (0, 1 << 64)}


def _column_kind(vr: str | None, vm: str | None) -> tuple[str, bool] | None:
    kind = _KIND_BY_VR.get(vr or "")
    if kind is None:
        return None
    return kind, vm is not None and vm != "1" and vr != "SQ"


def _describe(kind: str, is_list: bool) -> str:
    word = {"int": "integer", "uint": "unsigned integer", "float": "float", "str": "text",
            "bytes": "bytes"}[kind]
    return f"list-of-{word}" if is_list else word


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


_MISFIT = object()


def _fit(v: Any, kind: str) -> Any:
    """`v` as a value of a `kind` column (None for empty), or _MISFIT."""
    if v is None:
        return None
    t = type(v)
    if kind == "str":
        if t is str:
            return v
        return str(v) if t is int or t is float else _MISFIT
    if kind == "bytes":
        return v if t is bytes else _MISFIT
    if t is str and not v.strip():
        return None  # an empty IS / DS value, as pydicom gives it
    if kind == "float":
        if t is float:
            return v
        if t is int and abs(v) < 1 << 1000:  # beyond that float() overflows
            return float(v)
        return _MISFIT
    if t is float and v.is_integer():
        v, t = int(v), int
    if t is int:
        lo, hi = _INT_RANGE[kind]
        if lo <= v < hi:
            return v
    return _MISFIT


_EXACT: dict[str, type[Any]] = {"int": int, "uint": int, "float": float, "str": str, "bytes": bytes}


def _fits_as_is(col: list[Any], kind: str, is_list: bool) -> bool:
    """Whether every value (every item of a list) already has the column's Python type and
    range, checked with C-level loops (the per-value path costs microseconds)."""
    if is_list:
        flat: list[Any] = []
        for v in col:
            if type(v) is list:
                flat.extend(v)
            elif v is not None:
                flat.append(v)
    else:
        flat = [v for v in col if v is not None]
    if not flat:
        return True
    if set(map(type, flat)) != {_EXACT[kind]}:
        return False
    if kind in _INT_RANGE:
        lo, hi = _INT_RANGE[kind]
        return lo <= min(flat) and max(flat) < hi
    return True


def _fit_column(col: list[Any], kind: str, is_list: bool) -> tuple[list[Any], list[int]]:
    """The column's values fitted to `kind` (lists of them when `is_list`) and the indices of
    the values that do not fit (None in the result)."""
    if _fits_as_is(col, kind, is_list):  # the common case: nothing to convert
        if is_list:
            return [v if v is None or type(v) is list else [v] for v in col], []
        return col, []
    out: list[Any] = []
    misfits: list[int] = []
    exact = _EXACT[kind]
    bounds = _INT_RANGE.get(kind)
    for i, v in enumerate(col):
        if not is_list and type(v) is exact and (bounds is None or bounds[0] <= v < bounds[1]):
            out.append(v)  # fits as it is (inline: most values of a column)
            continue
        if is_list and type(v) is list:
            items = [_fit(x, kind) for x in v]
            fitted: Any = _MISFIT if any(x is _MISFIT for x in items) else items
        else:
            fitted = _fit(v, kind)
            if is_list and fitted is not None and fitted is not _MISFIT:
                fitted = [fitted]  # one value of a multi-valued attribute: a list of one
        if fitted is _MISFIT:
            misfits.append(i)
            fitted = None
        out.append(fitted)
    return out, misfits


# ------------------------------------------------------------------------------------------
# scan()
# ------------------------------------------------------------------------------------------
_CHUNK = 256


class _Scanners(threading.local):
    scanner: Any = None


def _make_scanner(resolved: list[tuple[str, int, str | None]]) -> Any:
    return _scan.Scanner([t for _, t, _ in resolved], [vr for _, _, vr in resolved],
                         _decode_text)


def _scan_chunk(resolved: list[tuple[str, int, str | None]], local: _Scanners,
                paths: list[str]) -> tuple[list[str | None], list[list[Any]]]:
    if local.scanner is None:
        local.scanner = _make_scanner(resolved)
    errors: list[str | None] = []
    columns: list[list[Any]] = [[] for _ in resolved]
    local.scanner.scan_many([os.fsencode(p) for p in paths], errors, columns)
    return errors, columns


def scan(paths: PathSpec | Iterable[PathSpec], tags: Iterable[TagSpec] | TagSpec, *,
         recursive: bool = True, threads: int | None = None,
         progress: Any = None) -> ScanResult:
    """Read the values of a few tags from many DICOM files, fast.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and directories; directories are walked (recursively unless `recursive` is False)
        in sorted order.  Every file found is scanned: files that are not DICOM get an error.
    tags : iterable of str, int or (int, int)
        Keywords (``"PatientID"``), ``(group, element)`` pairs, ints (``0x00100020``) or hex
        strings (``"(0010,0020)"``, ``"0010,0020"``, ``"00100020"``, ``"0x00100020"``).
        Top-level elements and file meta elements (group 0002) can be requested; elements
        inside sequences cannot.
    recursive : bool
        Walk directories recursively (default True).
    threads : int, optional
        Files scanned in parallel (each file's C walk releases the GIL).  Default: one thread
        per CPU for long lists, one thread for short ones.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk of files.

    Returns
    -------
    ScanResult
        One row per file: ``{"path", "error", <keyword>: value, ...}``.  Values are what pydicom
        gives for ``ds.get(keyword)``, as plain types (list for multiple values, float for DS,
        int for IS, str for PN/UI/DA/TM), or None when absent.  SQ elements give None.  A file
        that cannot be scanned has a message in ``error`` (never an exception) and the values
        found before the problem.  Typed output (:meth:`ScanResult.to_arrow`,
        :meth:`ScanResult.to_pandas`) types each column by the data dictionary's VR and VM and
        reports a value that does not fit in the row's ``warnings``.
    """
    resolved = resolve_tags(tags)
    files = list(iter_paths(paths, recursive=recursive))
    names = [name for name, _, _ in resolved]
    n = len(files)
    if threads is None:
        threads = 1 if n < 4 * _CHUNK else min(8, os.cpu_count() or 1)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    chunks = [files[i:i + _CHUNK] for i in range(0, n, _CHUNK)]
    local = _Scanners()
    errors: list[str | None] = []
    columns: list[list[Any]] = [[] for _ in resolved]
    done = 0

    def collect(part: tuple[list[str | None], list[list[Any]]], size: int) -> None:
        nonlocal done
        errors.extend(part[0])
        for col, new in zip(columns, part[1], strict=True):
            col.extend(new)
        done += size
        if progress is not None:
            progress(done, n)

    if threads == 1 or len(chunks) <= 1:
        for chunk in chunks:
            collect(_scan_chunk(resolved, local, chunk), len(chunk))
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for chunk, part in zip(chunks, pool.map(lambda c: _scan_chunk(resolved, local, c),
                                                    chunks), strict=True):
                collect(part, len(chunk))
    errors = [None if e is None else _errno_text(e) for e in errors]
    dd = _pydicom_datadict()
    return ScanResult(files, errors, names, columns, [t for _, t, _ in resolved],
                      [vr for _, _, vr in resolved],
                      [_dictionary_vm(t, dd) for _, t, _ in resolved])


def scan_buffer(data: bytes | bytearray | memoryview,
                tags: Iterable[TagSpec] | TagSpec) -> dict[str, Any]:
    """Scan one file held in memory; return its row (``path`` is None)."""
    resolved = resolve_tags(tags)
    err, values = _make_scanner(resolved).scan_buffer(data)
    row: dict[str, Any] = {"path": None, "error": err}
    row.update(zip((name for name, _, _ in resolved), values, strict=True))
    return row
