"""`geoip update`: download the configured databases, verify them and swap them in atomically.

Each source is installed as ``<download_dir>/<name>.mmdb`` (or ``.csv``); the version it
replaces is kept as ``<name>.mmdb.prev``, and ``<name>.state.json`` remembers where it came
from (URL, ETag/Last-Modified, sha256) so the next update asks the server only for a change.
A download that fails at any step never touches the installed file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx

from trafficatlas.enrich.update_fetch import (
    Fetched,
    ProgressCallback,
    RemoteNotFoundError,
    fetch_http,
    fetch_local,
    redact,
    scratch_path,
)
from trafficatlas.enrich.update_sources import DownloadTarget, resolve_targets
from trafficatlas.enrich.update_state import (
    SourceState,
    aware,
    load_state,
    save_state,
    update_due,
)
from trafficatlas.enrich.update_unpack import default_verify, unpack
from trafficatlas.enrich.watcher import DatabaseWatcher
from trafficatlas.errors import ConfigError, DownloadError, TrafficAtlasError
from trafficatlas.logging import get_logger
from trafficatlas.settings import GeoIPDatabase, Settings

Status = Literal["updated", "up-to-date", "failed"]
Verify = Callable[[Path], None]

__all__ = [
    "DatabaseWatcher",
    "SourceState",
    "UpdateResult",
    "due_targets",
    "installed_databases",
    "load_state",
    "rollback_database",
    "update_databases",
    "update_due",
]


@dataclass(frozen=True)
class UpdateResult:
    """What happened to one database: ``bytes`` counts what was downloaded."""

    name: str
    status: Status
    path: Path | None
    message: str
    bytes: int = 0


def due_targets(settings: Settings, now: datetime | None = None) -> list[str]:
    """Names of the configured databases the schedule says to update now."""
    now = aware(now or datetime.now(UTC))
    directory = settings.geoip_download_dir()
    return [
        t.name
        for t in _all_targets(settings, now)
        if update_due(settings, load_state(directory, t.name), now)
    ]


def installed_databases(settings: Settings) -> list[GeoIPDatabase]:
    """The databases `geoip update` has installed, with the role of their source."""
    directory = settings.geoip_download_dir()
    out: list[GeoIPDatabase] = []
    for target in _all_targets(settings, datetime.now(UTC)):
        state = load_state(directory, target.name)
        if state is not None and state.path.is_file():
            out.append(GeoIPDatabase(path=state.path, role=target.role))
    return out


def update_databases(
    settings: Settings,
    *,
    only: list[str] | None = None,
    progress: ProgressCallback | None = None,
    verify: Verify | None = None,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> list[UpdateResult]:
    """Download, verify and install every configured source (or those named in ``only``).

    One result per database; a failure of one source does not stop the others. ``progress``
    is called with (bytes so far, total or None), starting at 0 for each download.
    Raises ConfigError when ``only`` names no configured source, DownloadError when the
    download folder is unusable or another update is running in it.
    """
    now = aware(now or datetime.now(UTC))
    targets, failed = _plan(settings, only, now)
    if not targets:
        return failed
    directory = settings.geoip_download_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create download folder {directory}: {exc}") from None
    check = verify or default_verify
    results = list(failed)
    with _update_lock(directory), _http_client(client) as http:
        for target in targets:
            result = _update_one(settings, target, directory, http, check, progress, now)
            _log_result(result)
            results.append(result)
    return results


def rollback_database(settings: Settings, name: str) -> Path:
    """Put back the version kept as ``.prev`` by the last update; returns the restored path."""
    directory = settings.geoip_download_dir()
    state = load_state(directory, name)
    candidates = [state.path] if state else [directory / f"{name}.mmdb", directory / f"{name}.csv"]
    for final in candidates:
        prev = final.with_name(final.name + ".prev")
        if prev.is_file():
            os.replace(prev, final)
            digest, size = _sha256(final)
            now = datetime.now(UTC)
            restored = SourceState(
                url=state.url if state else "",
                etag=None,  # the server's validators describe the version rolled back from
                last_modified=None,
                sha256=digest,
                size=size,
                path=final,
                installed_at=now,
                checked_at=now,
            )
            save_state(directory, name, restored)
            return final
    raise DownloadError(f"no previous version of {name!r} to roll back to in {directory}")


def _plan(
    settings: Settings, only: list[str] | None, now: datetime
) -> tuple[list[DownloadTarget], list[UpdateResult]]:
    """The targets to update, and failed results for sources whose settings are incomplete."""
    wanted = set(only) if only else None
    targets: list[DownloadTarget] = []
    failed: list[UpdateResult] = []
    known: set[str] = set()
    for source in settings.geoip.sources:
        known.add(source.name)
        try:
            resolved = resolve_targets(settings.geoip, source, now)
        except ConfigError as exc:
            if wanted is None or source.name in wanted:
                failed.append(UpdateResult(source.name, "failed", None, str(exc)))
            continue
        for target in resolved:
            known.add(target.name)
            if wanted is None or target.name in wanted or target.source in wanted:
                targets.append(target)
    if wanted is not None and wanted - known:
        listed = ", ".join(sorted(known)) or "none configured"
        missing = ", ".join(sorted(wanted - known))
        raise ConfigError(f"no GeoIP source named {missing} (sources: {listed})")
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"several GeoIP sources install the same name: {', '.join(duplicates)}")
    return targets, failed


def _all_targets(settings: Settings, now: datetime) -> list[DownloadTarget]:
    out: list[DownloadTarget] = []
    for source in settings.geoip.sources:
        with contextlib.suppress(ConfigError):
            out.extend(resolve_targets(settings.geoip, source, now))
    return out


def _update_one(
    settings: Settings,
    target: DownloadTarget,
    directory: Path,
    http: httpx.Client,
    verify: Verify,
    progress: ProgressCallback | None,
    now: datetime,
) -> UpdateResult:
    state = load_state(directory, target.name)
    installed = state if state is not None and state.path.is_file() else None
    scratch: list[Path] = []
    try:
        raw = scratch_path(directory, target.name, ".download")
        scratch.append(raw)
        fetched = _fetch(settings, target, raw, http, installed, progress)
        if fetched is None:
            assert installed is not None  # only a conditional request can answer "not modified"
            save_state(directory, target.name, dataclasses.replace(installed, checked_at=now))
            return UpdateResult(
                target.name, "up-to-date", installed.path, "not modified since the last download"
            )
        return _unpack_and_install(settings, target, fetched, installed, verify, scratch, now)
    except TrafficAtlasError as exc:
        return UpdateResult(target.name, "failed", None, str(exc))
    except OSError as exc:
        return UpdateResult(target.name, "failed", None, f"cannot write in {directory}: {exc}")
    finally:
        for path in scratch:
            path.unlink(missing_ok=True)


def _unpack_and_install(
    settings: Settings,
    target: DownloadTarget,
    fetched: Fetched,
    installed: SourceState | None,
    verify: Verify,
    scratch: list[Path],
    now: datetime,
) -> UpdateResult:
    directory = settings.geoip_download_dir()
    origin = redact(fetched.url) if target.local is None else fetched.url
    db: Path | None = None
    try:
        db = unpack(
            fetched.path, directory, target.name, settings.geoip.download_max_bytes, scratch
        )
        digest, size = _sha256(db)
        final = directory / f"{target.name}{db.suffix}"
        new_state = SourceState(
            url=fetched.url,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            sha256=digest,
            size=size,
            path=final,
            installed_at=now,
            checked_at=now,
        )
        if installed is not None and installed.sha256 == digest and installed.path == final:
            kept = dataclasses.replace(new_state, installed_at=installed.installed_at)
            save_state(directory, target.name, kept)
            return UpdateResult(
                target.name, "up-to-date", final, "unchanged (same content)", fetched.size
            )
        verify(db)
    except TrafficAtlasError as exc:
        # Name the source, not the scratch file, so the message tells the user what failed.
        message = str(exc)
        if db is not None:
            message = message.replace(f"{db}: ", "").replace(str(db), "the downloaded file")
        raise type(exc)(f"{origin}: {message}") from None
    _install(db, final)
    save_state(directory, target.name, new_state)
    return UpdateResult(
        target.name, "updated", final, f"installed {size} bytes from {origin}", fetched.size
    )


def _fetch(
    settings: Settings,
    target: DownloadTarget,
    raw: Path,
    http: httpx.Client,
    installed: SourceState | None,
    progress: ProgressCallback | None,
) -> Fetched | None:
    geo = settings.geoip
    if target.local is not None:
        return fetch_local(target.local, raw, max_bytes=geo.download_max_bytes, progress=progress)
    for url in target.urls:
        known = installed if installed is not None and installed.url == url else None
        try:
            return fetch_http(
                http,
                url,
                raw,
                auth=target.auth,
                max_bytes=geo.download_max_bytes,
                timeout=geo.download_timeout_s,
                etag=known.etag if known else None,
                last_modified=known.last_modified if known else None,
                progress=progress,
            )
        except RemoteNotFoundError:
            if len(target.urls) == 1:
                raise
    tried = ", ".join(redact(u) for u in target.urls)
    raise DownloadError(f"not published yet (HTTP 404): tried {tried}")


def _install(new: Path, final: Path) -> None:
    """Swap ``new`` in as ``final``; the file it replaces stays as ``final.prev``."""
    new.chmod(0o644)  # mkstemp made it 0600; the collector may run as another user
    with new.open("rb") as fh:
        os.fsync(fh.fileno())
    if final.is_file():
        # A hard link keeps the old version without ever leaving ``final`` missing.
        keep = scratch_path(final.parent, final.stem, ".prev")
        try:
            keep.unlink()
            try:
                os.link(final, keep)
            except OSError:
                shutil.copy2(final, keep)
            os.replace(keep, final.with_name(final.name + ".prev"))
        finally:
            keep.unlink(missing_ok=True)
    os.replace(new, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@contextlib.contextmanager
def _update_lock(directory: Path) -> Iterator[None]:
    # Two updates (cron and a person) writing the same files would race on the swap.
    try:
        fh = (directory / ".update.lock").open("a")
    except OSError as exc:
        raise DownloadError(f"cannot write in download folder {directory}: {exc}") from None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadError(f"another geoip update is running in {directory}") from None
        yield


@contextlib.contextmanager
def _http_client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    from trafficatlas import __version__

    with httpx.Client(headers={"User-Agent": f"trafficatlas/{__version__}"}) as own:
        yield own


def _log_result(result: UpdateResult) -> None:
    log = get_logger("geoip.update")
    fields = {"database": result.name, "status": result.status, "detail": result.message}
    if result.status == "failed":
        log.warning("geoip.update_failed", **fields)
    else:
        log.info("geoip.update_done", **fields, bytes=result.bytes)
