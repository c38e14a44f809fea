"""Turning a downloaded file into one database file (.mmdb or .csv), and checking that it answers.

The format is sniffed from the content, not the URL: MaxMind's download API URL ends in
``/download?suffix=tar.gz`` and mirrors rename files.
"""

from __future__ import annotations

import csv
import gzip
import ipaddress
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from trafficatlas.enrich.update_fetch import CHUNK, scratch_path
from trafficatlas.errors import DatabaseError, DownloadError

Format = Literal["gzip", "zip", "tar", "mmdb", "csv", "unknown"]
MMDB_MARKER = b"\xab\xcd\xefMaxMind.com"
# The MaxMind DB spec puts the metadata within the last 128 KiB of the file.
MMDB_METADATA_SPAN = 128 * 1024
CSV_HEADER_ROWS = 5


def sniff(path: Path) -> Format:
    """The format of a file, judged from its first bytes (and, for .mmdb, its metadata marker)."""
    with path.open("rb") as fh:
        head = fh.read(4096)
        if head.startswith(b"\x1f\x8b"):
            return "gzip"
        if head.startswith(b"PK\x03\x04"):
            return "zip"
        if head[257:262] == b"ustar":
            return "tar"
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - MMDB_METADATA_SPAN))
        if MMDB_MARKER in fh.read():
            return "mmdb"
    if head and b"\0" not in head and _is_utf8(head):
        return "csv"
    return "unknown"


def _is_utf8(head: bytes) -> bool:
    # The 4 KiB window may cut a multi-byte character: judge only up to the last newline.
    cut = head.rfind(b"\n")
    try:
        (head if cut < 0 else head[:cut]).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def unpack(raw: Path, directory: Path, name: str, max_bytes: int, scratch: list[Path]) -> Path:
    """Turn a fetched file into one ``.mmdb`` or ``.csv`` scratch file in ``directory``.

    Every scratch file made is appended to ``scratch`` (the caller removes them). Raises
    DownloadError for corrupt or truncated archives, unsafe members and unknown formats.
    """
    kind = sniff(raw)
    if kind == "gzip":
        inner = _new(directory, name, ".gunzip", scratch)
        _gunzip(raw, inner, max_bytes)
        raw, kind = inner, sniff(inner)
        if kind == "gzip":
            raise DownloadError("download is gzip inside gzip: not a database")
    if kind == "tar":
        return _from_tar(raw, directory, name, max_bytes, scratch)
    if kind == "zip":
        return _from_zip(raw, directory, name, max_bytes, scratch)
    if kind in ("mmdb", "csv"):
        final = _new(directory, name, f".{kind}", scratch)
        os.replace(raw, final)
        return final
    raise DownloadError(
        "download is not a database: neither .mmdb, CSV text, gzip, tar nor zip"
        f" (first bytes {_head_hex(raw)})"
    )


def _new(directory: Path, name: str, suffix: str, scratch: list[Path]) -> Path:
    path = scratch_path(directory, name, suffix)
    scratch.append(path)
    return path


def _head_hex(path: Path) -> str:
    with path.open("rb") as fh:
        return fh.read(8).hex(" ") or "none: empty file"


def _gunzip(src: Path, dest: Path, max_bytes: int) -> None:
    try:
        with gzip.open(src, "rb") as fin, dest.open("wb") as out:
            _copy_limited(fin.read, out, max_bytes, "gzip content")
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DownloadError(f"corrupt or truncated gzip download: {exc}") from None


def _copy_limited(read: Callable[[int], bytes], out: IO[bytes], max_bytes: int, what: str) -> None:
    # Compressed input can expand a thousandfold: the limit applies after decompression too.
    size = 0
    while chunk := read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise DownloadError(f"{what} exceeds download_max_bytes ({max_bytes})")
        out.write(chunk)


def _unsafe(member: str) -> bool:
    path = PurePosixPath(member.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts


def _pick(names: list[str]) -> str:
    """The one database among archive members: a single .mmdb, else a single .csv."""
    for ext in (".mmdb", ".csv"):
        found = [n for n in names if n.lower().endswith(ext)]
        if len(found) == 1:
            return found[0]
        if found:
            raise DownloadError(f"archive holds several {ext} files: {', '.join(sorted(found))}")
    listed = ", ".join(names[:5]) or "no files"
    raise DownloadError(f"archive holds no .mmdb or .csv database ({listed})")


def _from_tar(raw: Path, directory: Path, name: str, max_bytes: int, scratch: list[Path]) -> Path:
    try:
        with tarfile.open(raw, "r:") as tar:
            members = tar.getmembers()
            for m in members:
                if _unsafe(m.name) or ((m.issym() or m.islnk()) and _unsafe(m.linkname)):
                    raise DownloadError(f"archive member with an unsafe path: {m.name!r}")
            files = {m.name: m for m in members if m.isfile()}
            chosen = files[_pick(list(files))]
            if chosen.size > max_bytes:
                raise DownloadError(f"archive member exceeds download_max_bytes ({max_bytes})")
            fin = tar.extractfile(chosen)
            if fin is None:  # pragma: no cover - isfile() members always have data
                raise DownloadError(f"archive member {chosen.name!r} has no data")
            final = _new(directory, name, _suffix(chosen.name), scratch)
            with fin, final.open("wb") as out:
                _copy_limited(fin.read, out, max_bytes, "archive member")
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DownloadError(f"corrupt or truncated tar archive: {exc}") from None
    return final


def _from_zip(raw: Path, directory: Path, name: str, max_bytes: int, scratch: list[Path]) -> Path:
    try:
        with zipfile.ZipFile(raw) as zf:
            infos = zf.infolist()
            for info in infos:
                if _unsafe(info.filename):
                    raise DownloadError(f"archive member with an unsafe path: {info.filename!r}")
            files = {i.filename: i for i in infos if not i.is_dir()}
            chosen = files[_pick(list(files))]
            if chosen.file_size > max_bytes:
                raise DownloadError(f"archive member exceeds download_max_bytes ({max_bytes})")
            final = _new(directory, name, _suffix(chosen.filename), scratch)
            with zf.open(chosen) as fin, final.open("wb") as out:
                _copy_limited(fin.read, out, max_bytes, "archive member")
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
        # RuntimeError: encrypted member; NotImplementedError: unsupported compression.
        raise DownloadError(f"corrupt or unsupported zip archive: {exc}") from None
    return final


def _suffix(member: str) -> str:
    return ".mmdb" if member.lower().endswith(".mmdb") else ".csv"


def default_verify(path: Path) -> None:
    """Check that a database opens and answers; raises DatabaseError when it does not.

    ``.mmdb``: opened with maxminddb and asked for 1.1.1.1 (and 2001:db8::1 when it holds
    IPv6). ``.csv``: the first data row (after at most a header) is ``start,end,...``.
    """
    suffix = path.suffix.lower()
    if suffix == ".mmdb":
        _verify_mmdb(path)
    elif suffix == ".csv":
        _verify_csv(path)
    else:
        raise DatabaseError(f"{path}: not a .mmdb or .csv database")


def _verify_mmdb(path: Path) -> None:
    import maxminddb

    try:
        with maxminddb.open_database(str(path)) as reader:
            reader.get("1.1.1.1")
            # ip-location-db ships IPv4-only files: asking them for IPv6 is a ValueError.
            if reader.metadata().ip_version == 6:
                reader.get("2001:db8::1")
    except Exception as exc:  # the reader's errors on a corrupt file are of many types
        raise DatabaseError(f"{path}: not a readable MaxMind DB: {exc}") from None


def _verify_csv(path: Path) -> None:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            data_rows = 0
            for row in csv.reader(fh):
                if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                    continue
                if _is_range_row(row):
                    return
                data_rows += 1
                if data_rows >= CSV_HEADER_ROWS:
                    break
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise DatabaseError(f"{path}: not a readable CSV file: {exc}") from None
    raise DatabaseError(f"{path}: not a CSV of IP ranges (no row of start,end,...)")


def _is_range_row(row: list[str]) -> bool:
    if len(row) < 2:
        return False
    try:
        start, end = (ipaddress.ip_address(v.strip()) for v in row[:2])
    except ValueError:
        # The ip-location-db "-num" files give addresses as integers.
        try:
            return 0 <= int(row[0]) <= int(row[1])
        except ValueError:
            return False
    return start.version == end.version and int(start) <= int(end)
