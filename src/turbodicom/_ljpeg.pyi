"""Stubs for the _ljpeg extension (csrc/td_ljpeg)."""
from typing import Any as _Any

from numpy.typing import NDArray
from typing_extensions import Buffer as _Buffer

Buffer = _Buffer | NDArray[_Any]

def read_header(src: Buffer) -> dict[str, _Any]: ...
def decode_into(src: Buffer, out: Buffer, *, bytes_per_sample: int, planar: bool = ...) -> None: ...
