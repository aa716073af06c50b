"""The GGUF reader survives any header: random, mutated and crafted files raise only
GemmaikuError (a client can make the server open one with /api/create)."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemmaiku.base.gguf_io import ARRAY, STRING, GGUFFile, open_gguf
from gemmaiku.errors import GemmaikuError

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def valid_gguf() -> bytes:
    from gguf import GGUFWriter

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny.gguf"
        writer = GGUFWriter(str(path), "gemma3")
        writer.add_context_length(128)
        writer.add_file_type(1)
        writer.add_array("tokenizer.ggml.tokens", ["<pad>", "a", "b"])
        writer.add_array("tokenizer.ggml.scores", [0.0, -1.0, -2.0])
        writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float16))
        writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


VALID = valid_gguf()


def read(data: bytes) -> GGUFFile | None:
    """Open ``data`` as a GGUF: the file or None (a GemmaikuError); anything else fails the test."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.gguf"
        path.write_bytes(data)
        try:
            return open_gguf(path)
        except GemmaikuError as exc:
            assert str(exc) and "\n" not in str(exc)
            return None


def kv(key: str, vtype: int, payload: bytes) -> bytes:
    raw = key.encode()
    return struct.pack("<Q", len(raw)) + raw + struct.pack("<I", vtype) + payload


def header(n_tensors: int, pairs: list[bytes], version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(pairs)) + b"".join(pairs)


def test_the_valid_file_reads():
    gguf_file = read(VALID)
    assert gguf_file is not None and len(gguf_file.tensors) == 2
    assert gguf_file.metadata["tokenizer.ggml.tokens"] == ["<pad>", "a", "b"]


@pytest.mark.parametrize("data,reason", [
    (header(0, [kv("general.alignment", 4, struct.pack("<I", 0))]), "power of two"),
    (header(0, [kv("general.alignment", 4, struct.pack("<I", 24))]), "power of two"),
    (header(0, [kv("general.alignment", 8, struct.pack("<Q", 2) + b"32")]), "power of two"),
    (header(0, [kv("x", ARRAY, struct.pack("<IQ", ARRAY, 1) * 10_000)]), "nested"),
    (header(0, [kv("x", ARRAY, struct.pack("<IQ", ARRAY, 2**62))]), "cannot fit"),
    (header(0, [kv("x", ARRAY, struct.pack("<IQ", STRING, 2**40))]), "cannot fit"),
    (header(0, [kv("x", ARRAY, struct.pack("<IQ", 4, 2**61))]), "cannot fit"),
    (header(0, [kv("x", STRING, struct.pack("<Q", 2**63))]), "cannot fit"),
    (header(2**63, []), "cannot fit"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**60), "cannot fit"),
    (header(0, [kv("x", 77, b"")]), "unknown value type"),
    (header(0, [], version=2**31), "not supported"),
    (VALID[:40], "truncated or damaged"),
    (VALID[:-8], "truncated"),
])
def test_crafted_headers_are_refused_with_the_reason(data, reason):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "crafted.gguf"
        path.write_bytes(data)
        with pytest.raises(GemmaikuError, match=reason):
            open_gguf(path)


def test_a_tensor_with_too_many_dimensions_or_a_bad_type_is_refused():
    name = b"t"
    info = struct.pack("<Q", len(name)) + name + struct.pack("<I", 9) + struct.pack("<Q", 1) * 9
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dims.gguf"
        path.write_bytes(header(1, []) + info + struct.pack("<IQ", 0, 0))
        with pytest.raises(GemmaikuError, match="dimensions"):
            open_gguf(path)
        info = struct.pack("<Q", len(name)) + name + struct.pack("<IQ", 1, 32) + struct.pack("<IQ", 4242, 0)
        path.write_bytes(header(1, []) + info + bytes(64))
        with pytest.raises(GemmaikuError):
            open_gguf(path)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_after_the_magic(tail):
    read(b"GGUF" + tail)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=8)),
                min_size=1, max_size=6),
       st.integers(8, len(VALID)))
def test_mutated_headers(patches, length):
    data = bytearray(VALID)
    header_end = len(VALID) - 4 * 8 * 2 - 8 * 4  # the tensor data is the last 96 bytes
    for position, patch in patches:
        position = position % header_end
        data[position : position + len(patch)] = patch
    read(bytes(data[:length]))


counts = st.sampled_from([0, 1, 2, 3, 255, 2**31, 2**32 + 1, 2**62, 2**64 - 1]) | st.integers(0, 2**64 - 1)
value_types = st.integers(0, 13) | st.integers(0, 2**32 - 1)


@st.composite
def crafted_values(draw, depth: int = 0) -> tuple[int, bytes]:
    vtype = draw(value_types)
    if vtype == ARRAY and depth < 6:
        item_type, items = draw(crafted_values(depth + 1))
        count = draw(counts)
        return ARRAY, struct.pack("<IQ", item_type, count) + items * draw(st.integers(0, 3))
    if vtype == STRING:
        return STRING, struct.pack("<Q", draw(counts)) + draw(st.binary(max_size=16))
    return vtype, draw(st.binary(max_size=8))


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=20), crafted_values()), max_size=5), counts,
       st.sampled_from([2, 3]) | st.integers(0, 2**32 - 1), st.binary(max_size=64))
def test_crafted_key_values(pairs, n_tensors, version, tail):
    body = [kv(key, vtype, payload) for key, (vtype, payload) in pairs]
    data = b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(body)) + b"".join(body) + tail
    read(data)


@st.composite
def tensor_infos(draw) -> bytes:
    name = draw(st.binary(max_size=8))
    dims = draw(st.lists(counts, max_size=draw(st.sampled_from([1, 2, 4, 5]))))
    info = struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims))
    info += b"".join(struct.pack("<Q", d) for d in dims)
    return info + struct.pack("<IQ", draw(st.integers(0, 40) | value_types), draw(counts))


@FUZZ
@given(st.integers(0, 2**32 - 1) | st.sampled_from([0, 1, 3, 24, 32, 2**31]),
       st.lists(tensor_infos(), max_size=3), st.binary(max_size=128))
def test_crafted_alignment_and_tensor_infos(alignment, infos, tail):
    pairs = [kv("general.architecture", STRING, struct.pack("<Q", 6) + b"gemma3"),
             kv("general.alignment", 4, struct.pack("<I", alignment))]
    read(header(len(infos), pairs) + b"".join(infos) + tail)
