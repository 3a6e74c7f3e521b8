"""An SPSS system file's rows as arrow columns, chunk by chunk, in one pass over the file.

pyreadstat hands every value to Python one at a time (about 3 µs a row of ten columns: six minutes
for a national SPOLISBUS) and reads a chunk by starting again at the top of the file, decompressing
every earlier row to skip it. The rows of a system file are fixed 8-byte units, stored as they are or
as SPSS's bytecode compression (GNU PSPP, "System File Format"), so numpy reads them a block at a
time: the file is read once, and each chunk costs what its own rows cost.

`read_layout` reads the dictionary; a file this reader does not cover (zlib-compressed ``.zsav``,
very long texts, declared missing texts, a number with a text format, a character set Python does
not know or none recorded) says why in ``SavLayout.why_not`` and is read with pyreadstat instead.
Values come out as pyreadstat 1.3 gives them: numbers as float64 with system-missing, the declared
missing values (LO and HI reaching the infinities) and NaN as missing; texts as ReadStat converts
them (`_text`): trailing spaces and NULs stripped, NUL bytes dropped where the file says "UTF-8"
and ending the text elsewhere, a character cut off at the end left out, an invalid byte an error.
"""

from __future__ import annotations

import codecs
import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SYSMIS = -sys.float_info.max  # SPSS's system-missing value
HIGHEST = sys.float_info.max
LOWEST = float(np.nextafter(-sys.float_info.max, 0))
EIGHT_SPACES = np.frombuffer(b" " * 8, dtype=np.uint64)[0]  # an empty 8-byte unit of text
_HEADER_BYTES = 176
_READ_BYTES = 1 << 24  # bytes of rows read from the file at a time
# the character codes of the machine integer record (Windows code pages), as ReadStat names them
_CODE_PAGES = {2: "cp1252", 3: "cp1252", 20127: "ascii", 28591: "latin-1", 65001: "utf-8"}


class SavError(ValueError):
    """The file is not a readable system file, or its rows do not match its dictionary."""


@dataclass(frozen=True)
class SavVariable:
    name: str
    width: int  # 0: a number; else the text's bytes
    offset: int  # in 8-byte units from the start of a row
    missing: tuple[float, ...] = ()  # declared missing values (numbers only here)
    missing_range: tuple[float, float] | None = None
    text_missing: bool = False  # declared missing texts: left to pyreadstat

    @property
    def units(self) -> int:
        return 1 if self.width == 0 else -(-self.width // 8)


@dataclass(frozen=True)
class SavLayout:
    variables: list[SavVariable]
    units: int  # 8-byte units a row
    compression: int  # 0 none, 1 bytecode, 2 zlib
    bias: float
    rows: int  # -1: not recorded in the header
    data_start: int
    byte_order: str  # "<" or ">"
    encoding: str
    sysmis: float = SYSMIS
    highest: float = HIGHEST
    lowest: float = LOWEST
    nul_dropped: bool = True  # ReadStat drops NUL bytes in texts only where the file says "UTF-8"
    unsupported: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def why_not(self, columns: Sequence[str]) -> str | None:
        """None if `columns` can be read by this reader, else the reason."""
        reasons = list(self.unsupported)
        by_name = {v.name: v for v in self.variables}
        reasons += [f"{c}: declared missing texts" for c in columns if by_name[c].text_missing]
        return "; ".join(reasons) or None


class _Bytes:
    """Reads fixed structures from the dictionary, naming the place of a short read."""

    def __init__(self, f, path: Path, order: str):
        self.f, self.path, self.order = f, path, order

    def take(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise SavError(f"{self.path.name}: the dictionary ends early (byte {self.f.tell()})")
        return data

    def ints(self, n: int) -> tuple[int, ...]:
        return struct.unpack(f"{self.order}{n}i", self.take(4 * n))

    def doubles(self, n: int) -> tuple[float, ...]:
        return struct.unpack(f"{self.order}{n}d", self.take(8 * n))


def read_layout(path: Path) -> SavLayout:
    """The dictionary of a system file: its variables, where each sits in a row, how rows are stored."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(_HEADER_BYTES)
        if len(head) < _HEADER_BYTES or head[:4] not in (b"$FL2", b"$FL3"):
            raise SavError(f"{path.name}: not an SPSS system file")
        order = "<" if struct.unpack("<i", head[64:68])[0] in (2, 3) else ">"
        units, compression, _, rows = struct.unpack(f"{order}4i", head[68:84])
        (bias,) = struct.unpack(f"{order}d", head[84:92])
        read = _Bytes(f, path, order)
        records: list[dict] = []
        long_names: dict[str, str] = {}
        encoding = None
        code_page = None
        unsupported = []
        text_missing: set[bytes] = set()  # names of long texts with declared missing values
        sysmis, highest, lowest = SYSMIS, HIGHEST, LOWEST
        while True:
            (kind,) = read.ints(1)
            if kind == 2:
                width, has_label, n_missing, printed, written = read.ints(5)
                short = read.take(8).rstrip(b" ").decode("latin-1")
                if width == 0 and 1 in ((printed >> 16) & 0xFF, (written >> 16) & 0xFF):
                    unsupported.append(f"{short}: a number with a text format (ReadStat: a text)")
                if has_label:
                    (length,) = read.ints(1)
                    read.take(-(-length // 4) * 4)
                missing = read.doubles(abs(n_missing)) if n_missing else ()
                # as ReadStat: system-missing never matches, LO and HI are the infinities
                specials = {sysmis: float("nan"), lowest: -float("inf"), highest: float("inf")}
                missing = tuple(specials.get(m, m) for m in missing)
                records.append(
                    {"short": short, "width": width, "n_missing": n_missing, "missing": missing}
                )
            elif kind == 3:
                (count,) = read.ints(1)
                for _ in range(count):
                    label = read.take(9)
                    read.take(-(-(label[8] + 1) // 8) * 8 - 1)
                (kind4, n) = read.ints(2)
                if kind4 != 4:
                    raise SavError(f"{path.name}: value labels without their variables")
                read.take(4 * n)
            elif kind == 6:
                (lines,) = read.ints(1)
                read.take(80 * lines)
            elif kind == 7:
                subtype, size, count = read.ints(3)
                data = read.take(size * count)
                if subtype == 3 and size * count == 32:
                    code_page = struct.unpack(f"{order}8i", data)[7]
                elif subtype == 4 and size * count == 24:
                    sysmis, highest, lowest = struct.unpack(f"{order}3d", data)
                elif subtype == 13:
                    for pair in data.split(b"\t"):
                        short, _, name = pair.partition(b"=")
                        long_names[short.decode("latin-1")] = name
                elif subtype == 14:
                    unsupported.append("very long texts (over 255 bytes)")
                elif subtype == 20:
                    encoding = data.rstrip(b"\0 ").decode("ascii", "replace")
                elif subtype == 22:
                    names = _long_text_missing(data, order)
                    if names is None:
                        unsupported.append("declared missing texts that cannot be read")
                    text_missing |= names or set()
            elif kind == 999:
                read.ints(1)
                break
            else:
                raise SavError(f"{path.name}: unknown dictionary record {kind}")
        data_start = f.tell()

    if order == ">":
        unsupported.append("big-endian numbers")
    if compression == 2:
        unsupported.append("zlib-compressed (.zsav)")
    elif compression not in (0, 1):
        raise SavError(f"{path.name}: unknown compression {compression}")
    python_encoding = _python_encoding(encoding, code_page)
    if python_encoding is None:
        unsupported.append(f"character set {encoding or code_page or 'not recorded'}")
        python_encoding = "latin-1"
    # ReadStat takes the encoding record's name as it is, else its name for the code page
    nul_dropped = encoding == "UTF-8" if encoding else code_page == 65001

    variables: list[SavVariable] = []
    offset = 0
    for rec in records:
        if rec["width"] < 0:  # the further 8-byte units of the text before
            offset += 1
            continue
        raw = long_names.get(rec["short"], rec["short"].encode("latin-1"))
        name = raw.decode(python_encoding, "replace")
        missing, missing_range = rec["missing"], None
        if rec["n_missing"] < 0:
            missing_range, missing = (missing[0], missing[1]), missing[2:]
        variables.append(
            SavVariable(
                name=name,
                width=rec["width"],
                offset=offset,
                missing=tuple(missing) if rec["width"] == 0 else (),
                missing_range=missing_range if rec["width"] == 0 else None,
                text_missing=rec["width"] > 0
                and (rec["n_missing"] != 0 or bool({raw, rec["short"].encode()} & text_missing)),
            )
        )
        offset += 1
    if units > 0 and offset != units:
        raise SavError(f"{path.name}: {offset} row units in the dictionary, {units} in the header")
    return SavLayout(
        variables=variables,
        units=offset,
        compression=compression,
        bias=bias,
        rows=rows,
        data_start=data_start,
        byte_order=order,
        encoding=python_encoding,
        sysmis=sysmis,
        highest=highest,
        lowest=lowest,
        nul_dropped=nul_dropped,
        unsupported=unsupported,
    )


def _long_text_missing(data: bytes, order: str) -> set[bytes] | None:
    """The names in a long-text missing-values record (subtype 22), None if it does not parse.

    SPSS keeps the declared missing values of a text over 8 bytes here, not in its variable record.
    """
    names, at = set(), 0
    try:
        while at < len(data):
            (length,) = struct.unpack_from(f"{order}i", data, at)
            names.add(data[at + 4 : at + 4 + length])
            count = data[at + 4 + length]
            (size,) = struct.unpack_from(f"{order}i", data, at + 5 + length)
            at += 9 + length + count * size
    except (struct.error, IndexError):
        return None
    return names if at == len(data) else None


def _python_encoding(name: str | None, code_page: int | None) -> str | None:
    if name:
        try:
            return codecs.lookup(name).name
        except LookupError:
            return None
    if code_page in _CODE_PAGES:
        return _CODE_PAGES[code_page]
    if code_page:
        try:
            return codecs.lookup(f"cp{code_page}").name
        except LookupError:
            return None
    return None  # ReadStat then hands texts over unconverted: left to pyreadstat


def read_sav_chunks(
    path: Path, columns: Sequence[str], chunk_rows: int, layout: SavLayout | None = None
) -> Iterator[dict[str, pa.Array]]:
    """`columns` of at most `chunk_rows` rows at a time, in file order."""
    path = Path(path)
    layout = layout or read_layout(path)
    by_name = {v.name: v for v in layout.variables}
    wanted = [by_name[c] for c in columns]
    rows_seen = 0
    for rows in _row_blocks(path, layout, chunk_rows):
        rows_seen += len(rows)
        yield {v.name: _column(rows, v, layout) for v in wanted}
    if layout.rows >= 0 and rows_seen != layout.rows:
        raise SavError(f"{path.name}: {rows_seen} rows, while its header says {layout.rows}")


def _row_blocks(path: Path, layout: SavLayout, chunk_rows: int) -> Iterator[np.ndarray]:
    """(rows, units) arrays of the raw 8-byte units; a row never splits between two blocks."""
    left = layout.rows if layout.rows >= 0 else None  # rows the header says are still to come
    with open(path, "rb") as f:
        f.seek(layout.data_start)
        if layout.compression == 0:
            units = _stored(f, path)
        else:
            units = _decompressed(f, layout, path)
        size = chunk_rows if left is None else min(chunk_rows, left)
        block, filled = np.empty(size * layout.units, dtype=np.uint64), 0
        for piece in units:
            while len(piece) and len(block):
                take = min(len(piece), len(block) - filled)
                block[filled : filled + take] = piece[:take]
                filled, piece = filled + take, piece[take:]
                if filled == len(block):
                    yield block.reshape(-1, layout.units)
                    if left is not None:
                        left -= size
                        size = min(chunk_rows, left)
                    block, filled = np.empty(size * layout.units, dtype=np.uint64), 0
            if not len(block):
                return
        if filled % layout.units:
            raise SavError(f"{path.name}: the file ends inside a row")
        if filled:
            yield block[:filled].reshape(-1, layout.units)


def _stored(f, path: Path) -> Iterator[np.ndarray]:
    """Whole 8-byte units; bytes after the rows the header counts are never asked for (as ReadStat
    leaves them), a part of a unit at the end of a file read to its end is an error."""
    carry = b""
    while data := f.read(_READ_BYTES):
        data = carry + data
        whole = len(data) // 8 * 8
        carry = data[whole:]
        yield np.frombuffer(data, dtype=np.uint64, count=whole // 8)
    if carry:
        raise SavError(f"{path.name}: the file ends inside a row")


_SEGMENT = 64  # units a walker covers in `group_starts`


def group_starts(following: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
    """The positions of the groups starting before `limit` on the walk from 0 (each group's
    successor is `following[group]`), and the first position of that walk at or after `limit`.

    One step per group in Python costs 0.5 µs, minutes at national size. Instead a walker starts at
    every 64th unit and all walk at once (numpy) to the end of their stretch. A walker that starts
    inside stored units meets the true walk within a few steps (stored text and numbers rarely
    hold the byte 253, so it advances one unit at a time until it lands on a group), and from a
    meeting point on the two are the same. A Python pass over the stretches then finds where the
    true walk enters each and meets its walker, stepping alone only until it does.
    """
    if limit <= 0:
        return np.empty(0, dtype=np.int64), 0
    first = np.arange(0, limit, _SEGMENT, dtype=np.int64)
    stop = np.minimum(first + _SEGMENT, limit)
    walked = np.zeros(limit, dtype=bool)
    pos = first.copy()
    moving = np.flatnonzero(pos < stop)
    while len(moving):
        here = pos[moving]
        walked[here] = True
        pos[moving] = following[here]
        moving = moving[pos[moving] < stop[moving]]
    exits, stops, on_walk = pos.tolist(), stop.tolist(), walked.tobytes()
    joined = np.empty(len(first), dtype=np.int64)  # where the true walk meets each walker
    alone: list[int] = []  # groups the true walk reaches before it meets a walker
    at = 0
    for k, end in enumerate(stops):
        while at < end and not on_walk[at]:
            alone.append(at)
            at = int(following[at])
        if at < end:
            joined[k], at = at, exits[k]
        else:
            joined[k] = end
    keep = walked & (np.arange(limit) >= np.repeat(joined, _SEGMENT)[:limit])
    keep[alone] = True
    return np.flatnonzero(keep), at


def _decompressed(f, layout: SavLayout, path: Path) -> Iterator[np.ndarray]:
    """SPSS bytecode compression, undone a block of the file at a time.

    The data are groups of eight one-byte codes, each followed by the 8-byte units its 253 codes
    stand for: 0 is padding, 1-251 a whole number plus the bias, 252 the end, 253 a unit as stored,
    254 eight spaces, 255 system-missing. Where a group starts depends on the group before, so the
    walk from group to group is done by `group_starts`; everything else is numpy.
    """
    order = layout.byte_order
    sysmis = np.array([layout.sysmis], dtype=f"{order}f8").view(np.uint64)[0]
    numbers = np.array(np.arange(256) - layout.bias, dtype=f"{order}f8").view(np.uint64)
    carry = b""
    while True:
        data = f.read(_READ_BYTES)
        buf = carry + data
        n = len(buf) // 8
        words = np.frombuffer(buf, dtype=np.uint64, count=n)
        codes = np.frombuffer(buf, dtype=np.uint8, count=n * 8).reshape(-1, 8)
        raw_in_group = ((codes == 253).view(np.uint64).ravel() * 0x0101010101010101) >> 56
        following = (raw_in_group + np.arange(1, n + 1, dtype=np.uint64)).view(np.int64)
        starts, at = group_starts(following, n - 8)  # a group spans at most 9 units
        if not data:  # the end of the file: its last groups, where whole
            last = []
            while at < n and following[at] <= n:
                last.append(at)
                at = int(following[at])
            starts = np.concatenate([starts, np.array(last, dtype=np.int64)])
        flat = codes[starts].ravel()
        end = np.flatnonzero(flat == 252)
        if len(end):
            flat = flat[: end[0]]
        out = numbers[flat]
        out[flat == 254] = EIGHT_SPACES
        out[flat == 255] = sysmis
        raw = flat == 253
        is_start = np.zeros(at, dtype=bool)  # every other unit up to `at` is one stored as it is
        is_start[starts] = True
        out[raw] = words[:at][~is_start][: int(raw.sum())]
        yield out[flat != 0]
        if len(end):
            return
        carry = buf[at * 8 :]
        if not data:
            if carry.strip(b"\0"):
                raise SavError(f"{path.name}: the file ends inside a row")
            return


def _column(rows: np.ndarray, v: SavVariable, layout: SavLayout) -> pa.Array:
    if v.width == 0:
        values = rows[:, v.offset].copy().view(f"{layout.byte_order}f8").astype(np.float64)
        missing = np.isnan(values) | np.isin(values, [layout.sysmis, layout.highest, layout.lowest])
        if v.missing:
            missing |= np.isin(values, v.missing)
        if v.missing_range:
            missing |= (values >= v.missing_range[0]) & (values <= v.missing_range[1])
        return pa.array(values, mask=missing)
    raw = np.ascontiguousarray(rows[:, v.offset : v.offset + v.units]).view(np.uint8)
    raw = np.ascontiguousarray(raw.reshape(len(rows), -1)[:, : v.width])
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(v.width), len(rows), [None, pa.py_buffer(raw)]
    )
    one_go = layout.encoding == "utf-8" or not (raw >= 128).any()
    if one_go and (layout.nul_dropped or not (raw == 0).any()):
        if (raw == 0).any():  # ReadStat drops NUL bytes in UTF-8 texts
            fixed = pc.replace_substring(fixed.cast(pa.binary()), b"\0", b"")
        try:
            return pc.ascii_rtrim(fixed.cast(pa.binary()).cast(pa.string()), characters=" \0")
        except pa.ArrowInvalid:
            pass  # a cut-off or invalid character: one text at a time, as ReadStat takes it
    try:
        texts = [_text(b, layout) for b in fixed.to_pylist()]
    except UnicodeDecodeError as e:
        raise SavError(f"{v.name}: a text that is not {layout.encoding} ({e})") from None
    return pa.array(texts, pa.string())


def _text(value: bytes, layout: SavLayout) -> str:
    """One text as ReadStat converts it: NUL bytes dropped where the file says exactly "UTF-8",
    trailing spaces and NULs stripped, a character cut off at the end left out (iconv's EINVAL,
    as SPSS cuts texts to their width), an invalid byte an error, and the C string ending at
    the first NUL."""
    if layout.nul_dropped:
        value = value.replace(b"\0", b"")
    text = codecs.getincrementaldecoder(layout.encoding)().decode(value.rstrip(b" \0"))
    return text if layout.nul_dropped else text.partition("\0")[0]
