"""Decoder for the data section of a MaxMind DB (.mmdb) file (format spec v2).

Values decode into plain Python objects: dict, list, str, bytes, int, float, bool. Decoded pointer
targets are memoized by offset, because databases share sub-maps and strings through pointers (a
city database points thousands of records at the same country map); shared results are the same
Python object and must be treated as read-only.

Corrupt input raises :class:`CorruptDataError` (never IndexError, RecursionError or a hang):
every read is bounds-checked, pointer cycles are detected and nesting depth is capped.
"""

from __future__ import annotations

import struct
from typing import Any

# Type numbers from the spec.
_POINTER = 1
_STRING = 2
_DOUBLE = 3
_BYTES = 4
_UINT16 = 5
_UINT32 = 6
_MAP = 7
_INT32 = 8
_UINT64 = 9
_UINT128 = 10
_ARRAY = 11
_BOOLEAN = 14
_FLOAT = 15

# Largest byte count of each integer type.
_INT_BYTES = {_UINT16: 2, _UINT32: 4, _UINT64: 8, _UINT128: 16}

# Real databases nest a handful of levels; anything deeper is corrupt (and would otherwise
# exhaust the interpreter's recursion limit).
MAX_DEPTH = 64

_unpack_double = struct.Struct(">d").unpack_from
_unpack_float = struct.Struct(">f").unpack_from
_unpack_int32 = struct.Struct(">i").unpack
_MISSING = object()


class CorruptDataError(Exception):
    """The data section (or metadata) does not follow the format; the message says where."""


class DataSection:
    """Random-access decoder over one data section (or the metadata block)."""

    __slots__ = ("_active", "buf", "memo", "size")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.size = len(buf)
        # offset -> decoded value of pointer targets and records decoded through value_at()
        self.memo: dict[int, Any] = {}
        self._active: set[int] = set()

    def value_at(self, offset: int) -> Any:
        """The value stored at ``offset`` (memoized)."""
        return self.values_at([offset])[0]

    def values_at(self, offsets: list[int]) -> list[Any]:
        """Values at many offsets, in order (memoized)."""
        memo = self.memo
        follow = self._follow
        buf = self.buf
        size = self.size
        out: list[Any] = []
        append = out.append
        try:
            for off in offsets:
                c = buf[off] if 0 <= off < size else 0
                if 0x40 <= c < 0x5D and off + 1 + (c & 31) <= size:
                    # short string: cheaper to decode than to memoize
                    append(buf[off + 1 : off + 1 + (c & 31)].decode("utf-8"))
                    continue
                value = memo.get(off, _MISSING)
                if value is _MISSING:
                    value = follow(off, 0)
                append(value)
        except UnicodeDecodeError as exc:
            raise CorruptDataError(f"invalid UTF-8 string ({exc.reason})") from None
        except IndexError:  # the inline fast paths read a byte or two without a check
            raise CorruptDataError("a field runs past the end of the data") from None
        except RecursionError:
            raise CorruptDataError("values nested too deeply") from None
        return out

    # -- internals --------------------------------------------------------------------------

    def _follow(self, target: int, depth: int) -> Any:
        """Decode the value at a pointer target once, guarding against pointer cycles."""
        if target >= self.size or target < 0:
            raise CorruptDataError(
                f"pointer to offset {target} beyond the data section ({self.size})"
            )
        if target in self._active:
            raise CorruptDataError(f"pointer cycle at offset {target}")
        self._active.add(target)
        try:
            value = self._decode(target, depth + 1)[0]
        finally:
            self._active.discard(target)
        self.memo[target] = value
        return value

    def _decode(self, off: int, depth: int) -> tuple[Any, int]:
        """Decode the field at ``off``; return (value, offset after the field)."""
        if depth > MAX_DEPTH:
            raise CorruptDataError(f"values nested deeper than {MAX_DEPTH} levels at offset {off}")
        buf = self.buf
        if off >= self.size:
            raise CorruptDataError(f"field at offset {off} starts past the end ({self.size})")
        ctrl = buf[off]
        pos = off + 1
        kind = ctrl >> 5
        if kind == _POINTER:
            ss = (ctrl >> 3) & 3
            need = pos + ss + 1
            if need > self.size:
                raise CorruptDataError(f"truncated pointer at offset {off}")
            if ss == 0:
                target = ((ctrl & 7) << 8) | buf[pos]
            elif ss == 1:
                target = (((ctrl & 7) << 16) | (buf[pos] << 8) | buf[pos + 1]) + 2048
            elif ss == 2:
                target = (((ctrl & 7) << 24) | int.from_bytes(buf[pos : pos + 3], "big")) + 526336
            else:
                target = int.from_bytes(buf[pos : pos + 4], "big")
            value = self.memo.get(target, _MISSING)
            if value is _MISSING:
                value = self._follow(target, depth)
            return value, need
        if kind == 0:
            if pos >= self.size:
                raise CorruptDataError(f"truncated extended type at offset {off}")
            kind = 7 + buf[pos]
            pos += 1
        size = ctrl & 31
        if size >= 29:
            extra = size - 28
            if pos + extra > self.size:
                raise CorruptDataError(f"truncated size at offset {off}")
            if size == 29:
                size = 29 + buf[pos]
            elif size == 30:
                size = 285 + ((buf[pos] << 8) | buf[pos + 1])
            else:
                size = 65821 + int.from_bytes(buf[pos : pos + 3], "big")
            pos += extra
        if kind == _MAP:
            return self._decode_map(off, pos, size, depth)
        if kind == _ARRAY:
            items: list[Any] = []
            for _ in range(size):
                item, pos = self._decode(pos, depth + 1)
                items.append(item)
            return items, pos
        if kind == _BOOLEAN:
            if size > 1:
                raise CorruptDataError(f"boolean of size {size} at offset {off}")
            return size == 1, pos
        end = pos + size
        if end > self.size:
            raise CorruptDataError(
                f"field at offset {off} runs past the end of the data ({size} bytes)"
            )
        if kind == _STRING:
            try:
                return buf[pos:end].decode("utf-8"), end
            except UnicodeDecodeError:
                raise CorruptDataError(f"invalid UTF-8 string at offset {off}") from None
        if kind == _DOUBLE:
            if size != 8:
                raise CorruptDataError(f"double of size {size} at offset {off}")
            return _unpack_double(buf, pos)[0], end
        if kind == _FLOAT:
            if size != 4:
                raise CorruptDataError(f"float of size {size} at offset {off}")
            return _unpack_float(buf, pos)[0], end
        if kind in _INT_BYTES:
            if size > _INT_BYTES[kind]:
                raise CorruptDataError(f"integer of {size} bytes (type {kind}) at offset {off}")
            return int.from_bytes(buf[pos:end], "big"), end
        if kind == _INT32:
            if size > 4:
                raise CorruptDataError(f"int32 of {size} bytes at offset {off}")
            # Shorter encodings are zero-padded on the left (so they are never negative).
            return _unpack_int32(buf[pos:end].rjust(4, b"\0"))[0], end
        if kind == _BYTES:
            return bytes(buf[pos:end]), end
        raise CorruptDataError(f"unknown or invalid data type {kind} at offset {off}")

    def _decode_map(self, off: int, pos: int, count: int, depth: int) -> tuple[Any, int]:
        """Decode ``count`` key/value pairs from ``pos``.

        Maps are most of the work, so the encodings real files use for keys and values (pointers
        to shared values already decoded, short strings, floats) are decoded inline here rather
        than through a call to :meth:`_decode` each.
        """
        buf = self.buf
        end_of_data = self.size
        memo = self.memo
        decode = self._decode
        result: dict[str, Any] = {}
        for _ in range(count):
            # key: a pointer to a shared string, or a short string stored in place
            if pos >= end_of_data:
                raise CorruptDataError(f"map at offset {off} runs past the end of the data")
            c = buf[pos]
            if c & 0xF8 == 0x20:  # 11-bit pointer
                key = memo.get(((c & 7) << 8) | buf[pos + 1], _MISSING)
                if key is _MISSING:
                    key, pos = decode(pos, depth + 1)
                else:
                    pos += 2
            elif 0x40 <= c < 0x5D:  # string shorter than 29 bytes
                end = pos + 1 + (c & 31)
                if end > end_of_data:
                    raise CorruptDataError(f"map key at offset {pos} runs past the end of the data")
                key = buf[pos + 1 : end].decode("utf-8")
                pos = end
            else:
                key, pos = decode(pos, depth + 1)
            if type(key) is not str:
                raise CorruptDataError(
                    f"map key of type {type(key).__name__} in map at offset {off}"
                )
            # value
            if pos >= end_of_data:
                raise CorruptDataError(f"map at offset {off} runs past the end of the data")
            c = buf[pos]
            kind = c >> 5
            value: Any = _MISSING
            if kind == _POINTER:
                ss = (c >> 3) & 3
                if ss == 0:
                    value = memo.get(((c & 7) << 8) | buf[pos + 1], _MISSING)
                    step = 2
                elif ss == 1 and pos + 2 < end_of_data:
                    target = (((c & 7) << 16) | (buf[pos + 1] << 8) | buf[pos + 2]) + 2048
                    value = memo.get(target, _MISSING)
                    step = 3
                if value is _MISSING:
                    value, pos = decode(pos, depth + 1)
                else:
                    pos += step
            elif kind == _STRING and c & 31 < 29:
                end = pos + 1 + (c & 31)
                if end > end_of_data:
                    raise CorruptDataError(f"string at offset {pos} runs past the end of the data")
                value = buf[pos + 1 : end].decode("utf-8")
                pos = end
            elif c == 0x04 and buf[pos + 1] == 0x08 and pos + 6 <= end_of_data:  # float
                value = _unpack_float(buf, pos + 2)[0]
                pos += 6
            else:
                value, pos = decode(pos, depth + 1)
            result[key] = value
        return result, pos
