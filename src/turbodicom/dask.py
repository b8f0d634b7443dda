"""Scanning tags across a Dask cluster: :func:`scan` returns a Dask DataFrame.

Each partition is a list of files scanned by one task with :func:`turbodicom.scan`, so a
cluster of N workers scans N partitions at once; nothing but the rows travels back.  Needs the
``dask`` extra: ``pip install 'turbodicom[dask]'``.

>>> import turbodicom.dask
>>> ddf = turbodicom.dask.scan("/data/dicom", ["PatientID", "StudyInstanceUID"])
>>> ddf.groupby("StudyInstanceUID").size().compute()
>>> turbodicom.dask.to_parquet("/data/dicom", ["PatientID", "Rows"], "index.parquet")
"""

from __future__ import annotations

from typing import Any, Iterable

from turbodicom.scan import PathSpec, TagSpec, _as_text, iter_paths, resolve_tags
from turbodicom.scan import scan as _scan

__all__ = ["scan", "to_parquet"]


def _require() -> Any:
    try:
        import dask.dataframe as dd
        import pandas  # noqa: F401
    except ImportError as exc:
        raise ImportError("turbodicom.dask needs Dask: pip install 'turbodicom[dask]'") from exc
    return dd


def _partition(files: list[str], tags: list[Any], as_text: bool) -> Any:
    import pandas as pd

    result = _scan(files, tags, threads=1)
    if not as_text:
        return result.to_pandas()  # typed by the data dictionary: the same in every partition
    cols = dict(result.columns)
    for name in result.names:
        cols[name] = [None if v is None else _as_text(v) for v in cols[name]]
    return pd.DataFrame(cols, columns=list(cols))


def scan(paths: PathSpec | Iterable[PathSpec], tags: Iterable[TagSpec] | TagSpec, *,
         recursive: bool = True, partition_size: int = 2000, as_text: bool = False) -> Any:
    """Scan files for tags in parallel on Dask; return a lazy Dask DataFrame.

    Parameters
    ----------
    paths, tags, recursive
        As for :func:`turbodicom.scan`; the file list is made here, on the client.
    partition_size : int
        Files per partition (one task each).
    as_text : bool
        Give every tag column as text (lists joined with ``\\``, bytes as hex; what
        :func:`to_parquet` uses).  By default the columns are typed as
        :meth:`turbodicom.ScanResult.to_pandas` types them, from the data dictionary, so
        every partition has the same schema.

    Returns
    -------
    dask.dataframe.DataFrame
        Columns ``path``, ``error``, ``warnings`` (typed only) and one per tag, one row per
        file, in file order.
    """
    dd = _require()
    import pandas as pd
    from dask import delayed

    if partition_size < 1:
        raise ValueError(f"partition_size must be at least 1, got {partition_size}")
    resolved = resolve_tags(tags)
    tag_list = [t for _, t, _ in resolved]
    files = list(iter_paths(paths, recursive=recursive))
    if as_text:
        names = ["path", "error"] + [n for n, _, _ in resolved]
        meta = pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
    else:
        meta = _partition([], tag_list, False)
    chunks = [files[i:i + partition_size] for i in range(0, len(files), partition_size)]
    if not chunks:
        return dd.from_pandas(meta, npartitions=1)
    parts = [delayed(_partition)(chunk, tag_list, as_text) for chunk in chunks]
    import dask

    # keep object columns as Python objects (lists stay lists) rather than Arrow strings
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(parts, meta=meta, verify_meta=False)


def to_parquet(paths: PathSpec | Iterable[PathSpec], tags: Iterable[TagSpec] | TagSpec,
               out: str, *, recursive: bool = True, partition_size: int = 2000,
               **kwargs: Any) -> None:
    """Scan on Dask and write a partitioned Parquet index (one file per partition) to `out`.

    Tag columns are written as text (see ``as_text`` in :func:`scan`) so every partition has
    the same schema; extra keyword arguments go to ``DataFrame.to_parquet``.
    """
    ddf = scan(paths, tags, recursive=recursive, partition_size=partition_size, as_text=True)
    import pyarrow as pa

    schema = pa.schema([(name, pa.string()) for name in ddf.columns])
    kwargs.setdefault("write_index", False)
    ddf.to_parquet(out, schema=schema, **kwargs)
