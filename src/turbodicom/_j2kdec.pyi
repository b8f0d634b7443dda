"""Stubs for the _j2kdec extension (csrc/j2k: turbodicom's own JPEG 2000 decoder)."""
from typing import Any as _Any

from numpy.typing import NDArray
from typing_extensions import Buffer as _Buffer

Buffer = _Buffer | NDArray[_Any]

def read_header(src: Buffer, reduce: int = ...) -> dict[str, _Any]: ...
def decoded_size(src: Buffer, *, bytes_per_sample: int = ..., reduce: int = ...,
                 planar: bool = ...) -> tuple[int, int]: ...
def decode_into(src: Buffer, out: Buffer, *, bytes_per_sample: int = ..., reduce: int = ...,
                layers: int = ..., threads: int = ..., planar: bool = ...,
                strict: bool = ...) -> dict[str, _Any]: ...
def reduced_dims(src: Buffer, reduce: int) -> tuple[int, int]: ...
def decode_for_dataset(src: Buffer, out: Buffer, *, bytes_per_sample: int,
                       pixel_representation: bool, monochrome: bool, reduce: int = ...,
                       threads: int = ..., rows: int = ..., columns: int = ...,
                       samples_per_pixel: int = ...) -> dict[str, _Any]: ...
def decode_frames_for_dataset(srcs: list[Buffer], out: Buffer, *, bytes_per_sample: int,
                              pixel_representation: bool, monochrome: bool, reduce: int = ...,
                              threads: int = ..., rows: int = ..., columns: int = ...,
                              samples_per_pixel: int = ...) -> list[dict[str, _Any]]: ...
def release_memory() -> None: ...
