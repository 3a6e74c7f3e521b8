"""An SPSS ``.sav`` file written chunk by chunk, never held whole.

CBS delivers its tables as SPSS files, but pyreadstat's ``write_sav`` takes one whole DataFrame: a
national SPOLISBUS year (17 million rows) would be several GiB of Python objects before a byte is
written. This writer appends each chunk to a system file, so the national benchmark can deliver
its tables in CBS's usual form at national size with the memory of one chunk. As SPSS saves by
default, rows are bytecode-compressed (``compressed=False`` stores them as fixed-width records).

The layout is the documented system-file format (GNU PSPP, "System File Format"): the file header,
one variable record per variable (plus a continuation record for each further 8 bytes of a text
column), the machine integer and floating-point records, the long variable names, the character
encoding (UTF-8), the end of the dictionary, then one record per row: a number as an 8-byte IEEE
double (missing: SPSS's system-missing value), a text as its UTF-8 bytes padded with spaces to a
multiple of 8 (missing: all spaces, which is how SPSS stores an empty text). Compressed, every
8-byte unit gets a one-byte code in groups of eight, each group followed by the units it stores as
they are: a whole number from -99 to 151 is its code (the number plus the bias, 100), eight spaces
254, system-missing 255, anything else 253 and the unit after the group. The number of rows in
the header is written when the file is closed.
"""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wi_pipeline.lib.spss import EIGHT_SPACES, HIGHEST, LOWEST, SYSMIS

_NUMERIC_FORMAT = (5 << 16) | (12 << 8) | 2  # F12.2
_ROWS_AT = 80  # byte offset of the row count in the file header
_MAX_TEXT = 255  # longer texts need SPSS's very-long-string records, which no CBS code needs
_BIAS = 100.0
_RAW, _SPACES_CODE, _SYSMIS_CODE = 253, 254, 255


def _text_format(width: int) -> int:
    return (1 << 16) | (width << 8)  # A<width>


def _stored_bytes(width: int) -> int:
    return -(-width // 8) * 8


class SavWriter:
    """Append pyarrow tables with ``schema`` (float64 numbers, string texts) to ``path``.

    A text column's width is ``widths[column]`` if given, else the longest value of the first
    chunk (at least 8 bytes); a later value longer than its column is refused, not cut.
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        widths: dict[str, int] | None = None,
        compressed: bool = True,
    ):
        for field in schema:
            if not (pa.types.is_floating(field.type) or pa.types.is_string(field.type)):
                raise TypeError(f"{field.name}: a .sav column holds numbers (float64) or text")
        self.path, self.schema = Path(path), schema
        self.widths = dict(widths or {})
        self.compressed = compressed
        self.rows = 0
        self._file = None
        self._codes = np.empty(0, dtype=np.uint8)  # codes of a group not yet full, and its units
        self._units = np.empty(0, dtype=np.uint64)

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        if self._file is None:
            self._start(table)
        if table.num_rows == 0:
            return
        dtype = np.dtype(
            [
                (f.name, "<f8" if pa.types.is_floating(f.type) else f"S{self._bytes(f.name)}")
                for f in self.schema
            ]
        )
        records = np.empty(table.num_rows, dtype=dtype)
        for f in self.schema:
            column = table[f.name].combine_chunks()
            if pa.types.is_floating(f.type):
                records[f.name] = pc.fill_null(column, SYSMIS).to_numpy(zero_copy_only=False)
            else:
                records[f.name] = self._padded(f.name, column)
        if self.compressed:
            self._write_compressed(records)
        else:
            self._file.write(records.tobytes())
        self.rows += table.num_rows

    def _write_compressed(self, records: np.ndarray) -> None:
        units = records.view(np.uint64)  # the records are whole 8-byte units, row after row
        numeric = np.concatenate(
            [
                np.ones(1, bool)
                if pa.types.is_floating(f.type)
                else np.zeros(self._bytes(f.name) // 8, bool)
                for f in self.schema
            ]
        )
        numeric = np.tile(numeric, len(records))
        values = units.view("<f8")
        whole = (
            numeric & (values == np.round(values)) & (values >= 1 - _BIAS) & (values <= 251 - _BIAS)
        )
        codes = np.full(len(units), _RAW, dtype=np.uint8)
        codes[whole] = (values[whole] + _BIAS).astype(np.uint8)
        codes[numeric & (values == SYSMIS)] = _SYSMIS_CODE
        codes[~numeric & (units == EIGHT_SPACES)] = _SPACES_CODE
        codes = np.concatenate([self._codes, codes])
        units = np.concatenate([self._units, units])
        full = len(codes) // 8 * 8
        self._write_groups(codes[:full], units[:full][codes[:full] == _RAW])
        self._codes, self._units = codes[full:], units[full:]

    def _write_groups(self, codes: np.ndarray, stored: np.ndarray) -> None:
        """Groups of eight codes, each followed by the units its 253 codes stand for."""
        groups = codes.reshape(-1, 8)
        sizes = 1 + (groups == _RAW).sum(axis=1)
        out = np.empty(int(sizes.sum()), dtype=np.uint64)
        starts = np.cumsum(sizes) - sizes
        out[starts] = groups.copy().view(np.uint64).ravel()
        after = np.ones(len(out), bool)
        after[starts] = False
        out[after] = stored
        self._file.write(out.tobytes())

    def close(self) -> None:
        if self._file is None:
            self._start(self.schema.empty_table())
        if self.compressed and len(self._codes):  # the last group, padded with code 0
            codes = np.zeros(8, dtype=np.uint8)
            codes[: len(self._codes)] = self._codes
            self._write_groups(codes, self._units[self._codes == _RAW])
        self._file.seek(_ROWS_AT)
        self._file.write(struct.pack("<i", self.rows))
        self._file.close()

    def _bytes(self, name: str) -> int:
        return _stored_bytes(self.widths[name])

    def _padded(self, name: str, column: pa.Array) -> np.ndarray:
        """Each text as exactly its column's bytes: UTF-8, padded with spaces (missing: spaces)."""
        size = self._bytes(name)
        text = pc.fill_null(column, "")
        longest = pc.max(pc.binary_length(text)).as_py() or 0
        if longest > self.widths[name]:
            raise ValueError(
                f"{self.path.name}: a value of {name} holds {longest} bytes, its column {self.widths[name]}"
            )
        padded = pc.utf8_rpad(text, width=size, padding=" ")  # by characters: bytes for ASCII
        if pc.all(pc.equal(pc.binary_length(padded), size)).as_py() is not False:
            start = int(np.frombuffer(padded.buffers()[1], dtype=np.int32)[padded.offset])
            return np.frombuffer(
                padded.buffers()[2], dtype=f"S{size}", count=len(padded), offset=start
            )
        return np.array([t.encode().ljust(size) for t in text.to_pylist()], dtype=f"S{size}")

    def _start(self, first: pa.Table) -> None:
        for f in self.schema:
            if pa.types.is_string(f.type) and f.name not in self.widths:
                longest = pc.max(pc.binary_length(first[f.name])).as_py() if first.num_rows else 0
                self.widths[f.name] = max(8, longest or 0)
            if pa.types.is_string(f.type) and self.widths[f.name] > _MAX_TEXT:
                raise ValueError(f"{f.name}: texts over {_MAX_TEXT} bytes are not written")
        short = _short_names(self.schema.names)
        units = sum(
            1 if pa.types.is_floating(f.type) else self._bytes(f.name) // 8 for f in self.schema
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # closed in close()
        out = self._file
        now = datetime.now()
        out.write(b"$FL2")
        out.write(_fixed("@(#) SPSS DATA FILE wi_pipeline", 60))
        compression = 1 if self.compressed else 0
        out.write(struct.pack("<iiiii", 2, units, compression, 0, -1))  # layout, units, compression
        out.write(struct.pack("<d", _BIAS))
        out.write(_fixed(now.strftime("%d %b %y"), 9) + _fixed(now.strftime("%H:%M:%S"), 8))
        out.write(_fixed("", 64) + b"\0\0\0")
        for f in self.schema:
            name = _fixed(short[f.name], 8)
            if pa.types.is_floating(f.type):
                out.write(
                    struct.pack("<iiiiii", 2, 0, 0, 0, _NUMERIC_FORMAT, _NUMERIC_FORMAT) + name
                )
                continue
            width = self.widths[f.name]
            fmt = _text_format(width)
            out.write(struct.pack("<iiiiii", 2, width, 0, 0, fmt, fmt) + name)
            for _ in range(self._bytes(f.name) // 8 - 1):  # the column's further 8-byte units
                out.write(struct.pack("<iiiiii", 2, -1, 0, 0, 0, 0) + _fixed("", 8))
        # machine integers: version, machine, IEEE floats, compression, little-endian, UTF-8
        out.write(
            struct.pack("<iiii", 7, 3, 4, 8)
            + struct.pack("<8i", 1, 0, 0, -1, 1, compression, 2, 65001)
        )
        out.write(struct.pack("<iiii", 7, 4, 8, 3) + struct.pack("<3d", SYSMIS, HIGHEST, LOWEST))
        long_names = "\t".join(f"{short[n]}={n}" for n in self.schema.names).encode()
        out.write(struct.pack("<iiii", 7, 13, 1, len(long_names)) + long_names)
        out.write(struct.pack("<iiii", 7, 20, 1, 5) + b"UTF-8")
        out.write(struct.pack("<ii", 999, 0))


def _fixed(text: str, size: int) -> bytes:
    return text.encode("ascii")[:size].ljust(size, b" ")


def _short_names(names: list[str]) -> dict[str, str]:
    """SPSS's 8-byte variable names, unique; the long names record gives the real ones back."""
    short: dict[str, str] = {}
    for i, name in enumerate(names):
        candidate = name.upper()[:8]
        short[name] = candidate if candidate not in short.values() else f"V{i}"
    return short
