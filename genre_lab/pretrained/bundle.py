"""Read a TensorFlow-1 checkpoint (a "tensor bundle") without TensorFlow, verifying every byte.

A bundle is ``PREFIX.index`` plus ``PREFIX.data-00000-of-00001``. The index is a LevelDB
table (uncompressed blocks, each followed by a masked CRC32C): its keys are tensor names and
its values ``BundleEntryProto`` messages (dtype, shape, shard, offset, size and the masked
CRC32C of the tensor's bytes in the data file). The formats are TensorFlow's
``core/util/tensor_bundle`` and ``core/lib/io/table``; the protobuf fields are read here
with a few lines of varint decoding, so the course needs neither TensorFlow nor protobuf.

Notebook: 09 (pretrained networks), through ``genre_lab.pretrained``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

__all__ = ["BundleError", "read_bundle"]

#: LevelDB's table magic number (the last 8 bytes of an ``.index`` file).
_TABLE_MAGIC = 0xDB4775248B80FB57
#: TensorFlow's DataType enum -> numpy dtype (the ones checkpoints of this kind hold).
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 6: np.int8, 9: np.int64,
           10: np.bool_, 19: np.float16}


class BundleError(ValueError):
    """A checkpoint that cannot be trusted; the one-line message names the file (and tensor)."""


def _masked_crc32c(data) -> int:
    import google_crc32c

    crc = google_crc32c.value(bytes(data))
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf) -> list[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as int, fixed32 as int,
    length-delimited as bytes."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + size]), pos + size
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"protobuf wire type {wire}")
        out.append((number, value))
    return out


def _block(index: bytes, offset: int, size: int) -> bytes:
    # A block and its 5-byte trailer: compression type (0: none) and the masked CRC32C of
    # block + type byte.
    if offset + size + 5 > len(index):
        raise ValueError("a block runs past the end of the file (truncated?)")
    block = index[offset:offset + size]
    kind, crc = index[offset + size], struct.unpack_from("<I", index, offset + size + 1)[0]
    if _masked_crc32c(index[offset:offset + size + 1]) != crc:
        raise ValueError(f"block at byte {offset}: CRC32C mismatch (a damaged file)")
    if kind != 0:
        raise ValueError(f"block at byte {offset}: compressed (type {kind}), not supported")
    return block


def _entries(block: bytes):
    # Prefix-compressed (key, value) pairs, then the restart array and its length.
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        size, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + size]
        pos += size


def _handle(buf, pos=0) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _index_entries(index: bytes):
    if len(index) < 48 or struct.unpack_from("<Q", index, len(index) - 8)[0] != _TABLE_MAGIC:
        raise ValueError("not a TensorFlow checkpoint index (no table footer)")
    footer = index[-48:]
    _, _, pos = _handle(footer)             # the metaindex block: unused
    offset, size, _ = _handle(footer, pos)  # the index block: one handle per data block
    for _, handle in _entries(_block(index, offset, size)):
        data_offset, data_size, _ = _handle(handle)
        yield from _entries(_block(index, data_offset, data_size))


def _entry(value: bytes) -> dict:
    entry = dict(dtype=1, shape=[], shard=0, offset=0, size=0, crc32c=None)
    for number, field in _fields(value):
        if number == 1:
            entry["dtype"] = field
        elif number == 2:
            entry["shape"] = [dict(_fields(dim)).get(1, 0)
                              for n, dim in _fields(field) if n == 2]
        elif number in (3, 4, 5):
            entry[{3: "shard", 4: "offset", 5: "size"}[number]] = field
        elif number == 6:
            entry["crc32c"] = field
        elif number == 7:
            raise ValueError("partitioned (sliced) tensors are not supported")
    return entry


def read_bundle(prefix) -> dict[str, np.ndarray]:
    """Every tensor of a TF-1 checkpoint, by name, as NumPy arrays.

    Args:
        prefix: the checkpoint prefix: ``PREFIX.index`` and ``PREFIX.data-00000-of-00001``
            must exist (musicnn's wheel names them ``.index`` in the model's folder, so the
            prefix is ``folder / ""``; pass the folder path with a trailing separator or the
            ``.index`` file itself).

    Raises:
        BundleError: a file is missing, truncated or damaged (a block's or a tensor's CRC32C
            does not match), or holds what this reader does not support; the message names
            the file and, for a tensor, its name.
    """
    prefix = str(prefix)
    if prefix.endswith(".index"):
        prefix = prefix[:-len(".index")]
    index_path = Path(prefix + ".index")
    try:
        index = index_path.read_bytes()
    except OSError as err:
        raise BundleError(f"{index_path}: cannot read ({err.strerror or err})") from None
    try:
        entries = [(key.decode(), _entry(value)) for key, value in _index_entries(index)
                   if key]  # the empty key holds the bundle header
    except (ValueError, struct.error, UnicodeDecodeError) as err:
        raise BundleError(f"{index_path}: {err}") from None
    shards = {e["shard"] for _, e in entries}
    if shards - {0}:
        raise BundleError(f"{index_path}: more than one data shard is not supported")
    data_path = Path(prefix + ".data-00000-of-00001")
    try:
        data = data_path.read_bytes()
    except OSError as err:
        raise BundleError(f"{data_path}: cannot read ({err.strerror or err})") from None
    tensors = {}
    for name, e in entries:
        where = f"{data_path}: tensor {name!r}"
        if e["dtype"] not in _DTYPES:
            raise BundleError(f"{where}: unsupported dtype {e['dtype']}")
        if e["offset"] + e["size"] > len(data):
            raise BundleError(f"{where}: bytes {e['offset']}..{e['offset'] + e['size']} lie "
                              f"past the end of the file ({len(data)} bytes; truncated?)")
        raw = data[e["offset"]:e["offset"] + e["size"]]
        if e["crc32c"] is None or _masked_crc32c(raw) != e["crc32c"]:
            raise BundleError(f"{where}: CRC32C mismatch (a damaged file)")
        dtype = np.dtype(_DTYPES[e["dtype"]]).newbyteorder("<")
        count = int(np.prod(e["shape"], dtype=np.int64))
        if count * dtype.itemsize != len(raw):
            raise BundleError(f"{where}: {len(raw)} bytes for shape {e['shape']} of {dtype}")
        tensors[name] = np.frombuffer(raw, dtype=dtype).reshape(e["shape"]).astype(
            dtype.newbyteorder("="))
    return tensors
