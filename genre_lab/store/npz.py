"""The ``.npz`` format of array and table entries: the layout of ``np.savez`` (uncompressed,
zip64 members) plus a schema member written last (each other member's dtype, shape and
CRC-32). Read back completely and checked against the schema, without pickle."""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .files import _MAX_JSON_BYTES

#: The member of every ``.npz`` entry, written last: each other member's dtype, shape, CRC-32.
_SCHEMA = "__schema__"


def _storable(name: str, value) -> np.ndarray:
    # Object arrays (track ids from pandas) become fixed-width unicode: no pickle needed.
    arr = np.asarray(value)
    if arr.dtype == object:
        if not all(isinstance(v, str) for v in arr.flat):
            raise TypeError(f"array {name!r}: object arrays can only hold strings")
        arr = arr.astype(np.str_) if arr.size else np.zeros(arr.shape, dtype="U1")
    if arr.dtype.hasobject:
        raise TypeError(f"array {name!r} of dtype {arr.dtype} would need pickle")
    return arr


def _read_member(zf: zipfile.ZipFile, name: str, limit: int) -> np.ndarray:
    """The array in member ``name + ".npy"``, read without pickle, its header checked against
    the member's size first (so a damaged header cannot ask for a huge allocation), and read
    to its end, so that zipfile compares its CRC-32 (BadZipFile if not)."""
    info = zf.getinfo(f"{name}.npy")  # KeyError: missing
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > limit:
        raise ValueError(f"array {name!r}: not an uncompressed member of a plausible size")
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"array {name!r}: .npy format {version} is not one we write")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(member)
        if dtype.hasobject:
            raise ValueError(f"array {name!r} of dtype {dtype} would need pickle")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes != info.file_size - member.tell():
            raise ValueError(f"array {name!r}: its header says {shape} {dtype}, which does "
                             f"not fit the member's {info.file_size} bytes")
        flat = np.empty(count, dtype)
        view, done = memoryview(flat.view(np.uint8)), 0
        while done < nbytes:
            chunk = member.read(min(1 << 22, nbytes - done))
            if not chunk:
                raise ValueError(f"array {name!r} is truncated")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
        if member.read(1):
            raise ValueError(f"array {name!r} has data past its end")
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    # The schema written last must list exactly the other members, with their dtype, shape
    # and the CRC-32 the archive gives them: an entry saved again by hand (other arrays, the
    # same keys) has other CRCs, and one without a schema is an older format.
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        limit = os.fstat(f.fileno()).st_size
        try:
            schema = json.loads(str(_read_member(zf, _SCHEMA, _MAX_JSON_BYTES)[()]))
        except KeyError:
            raise ValueError(f"no {_SCHEMA} member (not written by this store)") from None
        if not isinstance(schema, dict):
            raise ValueError(f"{_SCHEMA} is not a JSON object")
        members = {f"{name}.npy" for name in schema} | {f"{_SCHEMA}.npy"}
        if set(zf.namelist()) != members:
            raise ValueError(f"members {sorted(set(zf.namelist()) ^ members)} do not match "
                             f"the schema")
        arrays = {}
        for name, (dtype, shape, crc) in schema.items():
            if zf.getinfo(f"{name}.npy").CRC != crc:
                raise ValueError(f"array {name!r} was replaced after the entry was written")
            arr = _read_member(zf, name, limit)
            if arr.dtype.str != dtype or list(arr.shape) != shape:
                raise ValueError(f"array {name!r} is {arr.dtype.str} {list(arr.shape)}, the "
                                 f"schema says {dtype} {shape}")
            arrays[name] = arr
    return arrays


def _npz_writer(arrays: Mapping[str, np.ndarray]) -> Callable[[BinaryIO], None]:
    """What writes ``arrays`` as an entry into a binary file (for ``atomic_write``).

    Raises:
        ValueError: an array is named like the schema member.
    """
    # The layout of np.savez (uncompressed, zip64 members), plus the schema, written last.
    if _SCHEMA in arrays:
        raise ValueError(f"{_SCHEMA!r} is a reserved array name")

    def write(f):
        schema = {}
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, value in arrays.items():
                arr = np.asanyarray(value)
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
                schema[name] = [arr.dtype.str, list(arr.shape), zf.getinfo(f"{name}.npy").CRC]
            with zf.open(f"{_SCHEMA}.npy", "w") as member:
                np.lib.format.write_array(member, np.array(json.dumps(schema)),
                                          allow_pickle=False)

    return write
