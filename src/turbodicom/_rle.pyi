"""Stubs for the _rle extension (csrc/td_rle)."""
from typing import Any as _Any

from numpy.typing import NDArray
from typing_extensions import Buffer as _Buffer

Buffer = _Buffer | NDArray[_Any]

def frame_size(rows: int, columns: int, samples_per_pixel: int, bits_allocated: int) -> int: ...
def decode_into(src: Buffer, out: Buffer, *, rows: int, columns: int, samples_per_pixel: int,
                bits_allocated: int, planar: bool = ..., segment_order_le: bool = ...) -> None: ...
def encode(src: Buffer, *, rows: int, columns: int, samples_per_pixel: int,
           bits_allocated: int) -> bytes: ...
