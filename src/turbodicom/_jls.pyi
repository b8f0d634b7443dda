"""Stubs for the _jls extension (csrc/td_jls, CharLS)."""
from typing import Any as _Any

from numpy.typing import NDArray
from typing_extensions import Buffer as _Buffer

Buffer = _Buffer | NDArray[_Any]

def backend_version() -> str: ...
def read_header(src: Buffer) -> dict[str, _Any]: ...
def decode_into(src: Buffer, out: Buffer, *, bytes_per_sample: int = ...,
                sign_extend: bool = ...) -> dict[str, _Any]: ...
def decode_for_dataset(src: Buffer, out: Buffer, *, bytes_per_sample: int,
                       pixel_representation: bool, rows: int = ..., columns: int = ...,
                       samples_per_pixel: int = ...) -> dict[str, _Any]: ...
