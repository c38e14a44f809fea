"""Fetching one database file into a scratch file: an HTTP download or a local copy.

Downloads are streamed (never held in memory), refused past a size limit, and conditional
(``If-None-Match`` / ``If-Modified-Since``) so an unchanged database is not downloaded again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

import httpx

from trafficatlas.errors import DownloadError

ProgressCallback = Callable[[int, int | None], None]
CHUNK = 1 << 20


class RemoteNotFoundError(DownloadError):
    """The server answered 404: the file is not (yet) published there."""


@dataclass(frozen=True)
class Fetched:
    """A file fetched into ``path``, with the validators to make the next request conditional."""

    path: Path
    url: str
    etag: str | None
    last_modified: str | None
    size: int


def scratch_path(directory: Path, name: str, suffix: str) -> Path:
    """A new empty hidden file in ``directory`` (the target's filesystem: renames are atomic)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=suffix)
    os.close(fd)
    return Path(tmp)


def redact(url: str) -> str:
    """The URL without a password or query (either may hold a license key), for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def fetch_http(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    auth: tuple[str, str] | None,
    max_bytes: int,
    timeout: float,
    etag: str | None = None,
    last_modified: str | None = None,
    progress: ProgressCallback | None = None,
) -> Fetched | None:
    """Download ``url`` into ``dest``; None when the server says it has not changed (304)."""
    shown = redact(url)
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with client.stream(
            "GET", url, headers=headers, auth=auth, follow_redirects=True, timeout=timeout
        ) as resp:
            if resp.status_code == 304:
                return None
            _check_status(resp, shown, authenticated=auth is not None)
            total = _content_length(resp)
            if total is not None and total > max_bytes:
                raise DownloadError(
                    f"{shown}: file of {total} bytes exceeds download_max_bytes ({max_bytes})"
                )
            with dest.open("wb") as out:
                size = _copy(resp.iter_bytes(CHUNK), out, shown, max_bytes, total, progress)
            if total is not None and size < total:
                raise DownloadError(f"{shown}: download truncated ({size} of {total} bytes)")
            return Fetched(
                path=dest,
                url=url,
                etag=resp.headers.get("ETag"),
                last_modified=resp.headers.get("Last-Modified"),
                size=size,
            )
    except httpx.TimeoutException:
        raise DownloadError(f"{shown}: timed out (download_timeout_s = {timeout:g})") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise DownloadError(f"{shown}: download failed: {exc or type(exc).__name__}") from None
    except OSError as exc:
        raise DownloadError(f"cannot write download to {dest}: {exc}") from None


def fetch_local(
    path: Path, dest: Path, *, max_bytes: int, progress: ProgressCallback | None = None
) -> Fetched:
    """Copy a local database file into ``dest``."""
    try:
        with path.open("rb") as src:
            total = os.fstat(src.fileno()).st_size
            if total > max_bytes:
                raise DownloadError(
                    f"{path}: file of {total} bytes exceeds download_max_bytes ({max_bytes})"
                )
            chunks = iter(lambda: src.read(CHUNK), b"")
            with dest.open("wb") as out:
                size = _copy(chunks, out, str(path), max_bytes, total, progress)
    except FileNotFoundError:
        raise DownloadError(f"source file not found: {path}") from None
    except IsADirectoryError:
        raise DownloadError(f"source path is a directory, not a file: {path}") from None
    except PermissionError:
        raise DownloadError(f"source file not readable (permission denied): {path}") from None
    except OSError as exc:
        raise DownloadError(f"cannot copy {path}: {exc}") from None
    return Fetched(path=dest, url=str(path), etag=None, last_modified=None, size=size)


def _check_status(resp: httpx.Response, shown: str, *, authenticated: bool) -> None:
    code = resp.status_code
    if 200 <= code < 300:
        return
    if code == 404:
        raise RemoteNotFoundError(f"{shown}: not found (HTTP 404)")
    if code in (401, 403) and authenticated:
        raise DownloadError(
            f"{shown}: access denied (HTTP {code}): check the account id and license key"
        )
    raise DownloadError(f"{shown}: HTTP {code} {resp.reason_phrase}".rstrip())


def _content_length(resp: httpx.Response) -> int | None:
    # With Content-Encoding the header counts encoded bytes, not what iter_bytes yields.
    if resp.headers.get("Content-Encoding", "identity") != "identity":
        return None
    try:
        value = int(resp.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _copy(
    chunks: Iterable[bytes],
    out: BinaryIO,
    shown: str,
    max_bytes: int,
    total: int | None,
    progress: ProgressCallback | None,
) -> int:
    size = 0
    if progress is not None:
        progress(0, total)
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise DownloadError(f"{shown}: download exceeds download_max_bytes ({max_bytes})")
        out.write(chunk)
        if progress is not None:
            progress(size, total)
    return size
