"""`geoip update` against a real HTTP server on 127.0.0.1 serving files the tests build."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import random
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import maxminddb
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from pydantic import ValidationError

from trafficatlas.enrich.update import (
    SourceState,
    UpdateResult,
    due_targets,
    installed_databases,
    load_state,
    rollback_database,
    update_databases,
    update_due,
)
from trafficatlas.enrich.update_fetch import redact
from trafficatlas.enrich.update_sources import dbip_urls, parse_geoip_conf
from trafficatlas.enrich.update_unpack import default_verify
from trafficatlas.enrich.watcher import DatabaseWatcher
from trafficatlas.errors import ConfigError, DatabaseError, DownloadError
from trafficatlas.settings import GeoIPSource, Settings

pytestmark = pytest.mark.network
ACCOUNT, KEY = "123456", "s3cr3t-license"


def build_mmdb(country: str = "AU", ip_version: int = 6) -> bytes:
    """A tiny flat-schema database: 1.1.1.0/24 (and 2001:db8::/32) → country."""
    writer = MMDBWriter(
        ip_version=ip_version, ipv4_compatible=ip_version == 6, database_type="test-country"
    )
    writer.insert_network(IPSet(["1.1.1.0/24"]), {"country_code": country})
    if ip_version == 6:
        writer.insert_network(IPSet(["2001:db8::/32"]), {"country_code": country})
    fd, name = tempfile.mkstemp(suffix=".mmdb")  # mmdb-writer only writes to a named file
    os.close(fd)
    try:
        writer.to_db_file(name)
        return Path(name).read_bytes()
    finally:
        os.unlink(name)


def build_tar_gz(members: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def lookup(path: Path, ip: str) -> Any:
    with maxminddb.open_database(str(path)) as reader:
        return reader.get(ip)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    auth: tuple[str, str] | None = None
    delay: float = 0.0
    # Announce more bytes than sent, then close: a transfer cut short.
    claimed_length: int | None = None


@dataclass
class FileServer:
    """Routes by path; records (path, query, headers) of every request."""

    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.requests]


@pytest.fixture
def server() -> Iterator[FileServer]:
    state: dict[str, FileServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fs = state["fs"]
            parts = urlsplit(self.path)
            fs.requests.append((parts.path, parts.query, dict(self.headers)))
            route = fs.routes.get(parts.path)
            if route is None:
                self._reply(404, b"not found")
                return
            if route.delay:
                fs.release.wait(route.delay)
            if route.auth is not None:
                token = base64.b64encode(f"{route.auth[0]}:{route.auth[1]}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {token}":
                    self._reply(401, b"invalid license key", {"WWW-Authenticate": "Basic"})
                    return
            inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            if (route.etag and inm == route.etag) or (
                route.last_modified and ims == route.last_modified
            ):
                self._reply(304, b"")
                return
            extra = {"ETag": route.etag, "Last-Modified": route.last_modified}
            self._reply(route.status, route.body, extra, route.claimed_length)

        def _reply(
            self,
            status: int,
            body: bytes,
            headers: dict[str, str | None] | None = None,
            length: int | None = None,
        ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                if value is not None:
                    self.send_header(key, value)
            if status != 304:
                self.send_header("Content-Length", str(length if length is not None else len(body)))
            self.end_headers()
            self.wfile.write(body)
            if length is not None:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that gave up (timeout test) is not a server failure

    httpd = Server(("127.0.0.1", 0), Handler)
    fs = FileServer(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    state["fs"] = fs
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fs
    finally:
        fs.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def make_settings(
    tmp_path: Path, server: FileServer, sources: list[dict[str, Any]], **geo: Any
) -> Settings:
    geoip = {
        "use_bundled": False,
        "download_dir": tmp_path / "geoip",
        "maxmind_base_url": server.base,
        "dbip_base_url": server.base + "/free",
        "ip_location_db_base_url": server.base + "/ipdb",
        "download_timeout_s": 5.0,
        "sources": [GeoIPSource(**s) for s in sources],
        **geo,
    }
    return Settings(data_dir=tmp_path / "data", geoip=geoip)


def one(results: list[UpdateResult]) -> UpdateResult:
    assert len(results) == 1, results
    return results[0]


def dir_listing(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.geoip_download_dir().iterdir())


# ---------------------------------------------------------------- install, state, conditional


def test_mmdb_download_installs_verifies_and_records_state(
    tmp_path: Path, server: FileServer
) -> None:
    body = build_mmdb("AU")
    server.routes["/db/country.mmdb"] = Route(body, etag='"v1"')
    settings = make_settings(
        tmp_path, server, [{"name": "country", "url": server.base + "/db/country.mmdb"}]
    )
    seen: list[tuple[int, int | None]] = []

    res = one(update_databases(settings, progress=lambda done, total: seen.append((done, total))))

    assert res.status == "updated", res.message
    assert res.path == settings.geoip_download_dir() / "country.mmdb"
    assert res.bytes == len(body)
    assert res.path.read_bytes() == body
    assert lookup(res.path, "1.1.1.1") == {"country_code": "AU"}
    assert seen[0] == (0, len(body))
    assert seen[-1] == (len(body), len(body))
    state = json.loads((settings.geoip_download_dir() / "country.state.json").read_text())
    assert state["url"] == server.base + "/db/country.mmdb"
    assert state["etag"] == '"v1"'
    assert state["size"] == len(body)
    assert len(state["sha256"]) == 64
    assert datetime.fromisoformat(state["installed_at"]).tzinfo is not None
    assert dir_listing(settings) == [".update.lock", "country.mmdb", "country.state.json"]


def test_conditional_request_gives_up_to_date(tmp_path: Path, server: FileServer) -> None:
    server.routes["/a.mmdb"] = Route(
        build_mmdb(), etag='"e1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT"
    )
    settings = make_settings(tmp_path, server, [{"name": "a", "url": server.base + "/a.mmdb"}])
    first = one(update_databases(settings))
    assert first.path is not None
    inode = first.path.stat().st_ino

    second = one(update_databases(settings))

    assert (second.status, second.bytes) == ("up-to-date", 0)
    headers = server.requests[-1][2]
    assert headers["If-None-Match"] == '"e1"'
    assert headers["If-Modified-Since"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert first.path.stat().st_ino == inode
    assert not (first.path.parent / "a.mmdb.prev").exists()


def test_same_content_without_validators_is_not_reinstalled(
    tmp_path: Path, server: FileServer
) -> None:
    server.routes["/a.mmdb"] = Route(build_mmdb())
    settings = make_settings(tmp_path, server, [{"name": "a", "url": server.base + "/a.mmdb"}])
    first = one(update_databases(settings))
    assert first.path is not None
    inode = first.path.stat().st_ino

    second = one(update_databases(settings))

    assert second.status == "up-to-date"
    assert "unchanged" in second.message
    assert "If-None-Match" not in server.requests[-1][2]
    assert first.path.stat().st_ino == inode


def test_new_version_swaps_atomically_and_keeps_prev(tmp_path: Path, server: FileServer) -> None:
    old, new = build_mmdb("AU"), build_mmdb("NZ")
    server.routes["/c.mmdb"] = Route(old, etag='"1"')
    settings = make_settings(tmp_path, server, [{"name": "c", "url": server.base + "/c.mmdb"}])
    path = one(update_databases(settings)).path
    assert path is not None
    watcher = DatabaseWatcher([path])
    server.routes["/c.mmdb"] = Route(new, etag='"2"')

    res = one(update_databases(settings))

    assert res.status == "updated"
    assert path.read_bytes() == new
    assert lookup(path, "2001:db8::1") == {"country_code": "NZ"}
    assert (path.parent / "c.mmdb.prev").read_bytes() == old
    assert watcher.changed() == [path]
    assert watcher.changed() == []
    state = load_state(path.parent, "c")
    assert state is not None
    assert state.etag == '"2"'

    assert rollback_database(settings, "c") == path
    assert path.read_bytes() == old
    assert not (path.parent / "c.mmdb.prev").exists()
    assert watcher.changed() == [path]
    restored = load_state(path.parent, "c")
    assert restored is not None
    assert restored.etag is None
    assert restored.size == len(old)
    with pytest.raises(DownloadError, match="no previous version"):
        rollback_database(settings, "c")


# ---------------------------------------------------------------- formats and sources


def test_mmdb_gz_csv_gz_zip_and_local_files(tmp_path: Path, server: FileServer) -> None:
    mmdb = build_mmdb("DE")
    csv_text = b"ip_range_start,ip_range_end,asn,org\n1.0.0.0,1.0.0.255,13335,Cloudflare\n"
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("README.txt", "hi")
        zf.writestr("data/city.mmdb", mmdb)
    server.routes["/g.mmdb.gz"] = Route(gzip.compress(mmdb))
    server.routes["/ipdb/asn-ipv4.csv.gz"] = Route(gzip.compress(csv_text))
    server.routes["/z.zip"] = Route(zbuf.getvalue())
    local = tmp_path / "mine.mmdb"
    local.write_bytes(mmdb)
    settings = make_settings(
        tmp_path,
        server,
        [
            {"name": "gz", "url": server.base + "/g.mmdb.gz"},
            {"name": "asn", "kind": "ip-location-db", "edition": "asn-ipv4.csv.gz", "role": "asn"},
            {"name": "zipped", "url": server.base + "/z.zip"},
            {"name": "local", "kind": "file", "url": str(local)},
            {"name": "fileurl", "kind": "url", "url": local.as_uri()},
        ],
    )

    results = {r.name: r for r in update_databases(settings)}

    assert {n: r.status for n, r in results.items()} == dict.fromkeys(results, "updated")
    d = settings.geoip_download_dir()
    for name in ("gz", "zipped", "local", "fileurl"):
        assert (d / f"{name}.mmdb").read_bytes() == mmdb
    assert (d / "asn.csv").read_bytes() == csv_text
    assert {(db.path.name, db.role) for db in installed_databases(settings)} >= {("asn.csv", "asn")}
    # a local file that did not change is up to date without a copy being installed
    assert one(update_databases(settings, only=["local"])).status == "up-to-date"


def test_maxmind_tar_gz_with_directory_member_and_basic_auth(
    tmp_path: Path, server: FileServer
) -> None:
    mmdb = build_mmdb("JP")
    archive = build_tar_gz(
        {
            "GeoLite2-City_20240102/COPYRIGHT.txt": b"(c)",
            "GeoLite2-City_20240102/GeoLite2-City.mmdb": mmdb,
        },
        dirs=("GeoLite2-City_20240102",),
    )
    server.routes["/geoip/databases/GeoLite2-City/download"] = Route(archive, auth=(ACCOUNT, KEY))
    src = {
        "name": "city",
        "kind": "maxmind",
        "edition": "GeoLite2-City",
        "account_id": ACCOUNT,
        "license_key": KEY,
    }
    settings = make_settings(tmp_path, server, [src])

    res = one(update_databases(settings))

    assert res.status == "updated", res.message
    assert res.path is not None
    assert res.path.name == "city.mmdb"
    assert res.path.read_bytes() == mmdb
    _path, query, headers = server.requests[-1]
    assert query == "suffix=tar.gz"
    assert headers["Authorization"].startswith("Basic ")

    bad = make_settings(tmp_path / "bad", server, [{**src, "license_key": "wrong"}])
    res = one(update_databases(bad))
    assert res.status == "failed"
    assert "access denied (HTTP 401)" in res.message
    assert "license key" in res.message
    assert "wrong" not in res.message


def test_geoip_conf_parsing_and_editions(tmp_path: Path, server: FileServer) -> None:
    conf = tmp_path / "GeoIP.conf"
    conf.write_text(
        "# GeoIP.conf\nAccountID 123456\nLicenseKey s3cr3t-license  # key\n\n"
        "EditionIDs GeoLite2-ASN GeoLite2-City\nDatabaseDirectory /usr/share/GeoIP\n"
    )
    parsed = parse_geoip_conf(conf)
    assert (parsed.account_id, parsed.license_key) == (ACCOUNT, KEY)
    assert parsed.edition_ids == ("GeoLite2-ASN", "GeoLite2-City")
    for edition in parsed.edition_ids:
        archive = build_tar_gz({f"{edition}_1/{edition}.mmdb": build_mmdb()})
        server.routes[f"/geoip/databases/{edition}/download"] = Route(archive, auth=(ACCOUNT, KEY))
    settings = make_settings(
        tmp_path, server, [{"name": "mm", "kind": "maxmind", "geoip_conf": conf}]
    )

    assert (
        one(update_databases(settings, only=["GeoLite2-City"])).path
        == settings.geoip_download_dir() / "GeoLite2-City.mmdb"
    )
    assert [r.name for r in update_databases(settings, only=["mm"])] == [
        "GeoLite2-ASN",
        "GeoLite2-City",
    ]

    placeholder = tmp_path / "sample.conf"
    placeholder.write_text("AccountID YOUR_ACCOUNT_ID_HERE\nLicenseKey YOUR_LICENSE_KEY_HERE\n")
    with pytest.raises(ConfigError, match="placeholder"):
        parse_geoip_conf(placeholder)
    with pytest.raises(ConfigError, match="not found"):
        parse_geoip_conf(tmp_path / "missing.conf")


def test_dbip_falls_back_to_previous_month(tmp_path: Path, server: FileServer) -> None:
    mmdb = build_mmdb("FR")
    server.routes["/free/dbip-country-lite-2024-02.mmdb.gz"] = Route(
        gzip.compress(mmdb), etag='"feb"'
    )
    settings = make_settings(
        tmp_path, server, [{"name": "dbip", "kind": "dbip", "edition": "country"}]
    )
    march = datetime(2024, 3, 2, tzinfo=UTC)

    res = one(update_databases(settings, now=march))

    assert res.status == "updated"
    assert res.path is not None
    assert res.path.read_bytes() == mmdb
    assert server.paths() == [
        "/free/dbip-country-lite-2024-03.mmdb.gz",
        "/free/dbip-country-lite-2024-02.mmdb.gz",
    ]
    # still unpublished next time: the installed February file is asked for conditionally
    assert one(update_databases(settings, now=march)).status == "up-to-date"
    assert server.requests[-1][2]["If-None-Match"] == '"feb"'
    gone = one(update_databases(settings, now=datetime(2024, 5, 1, tzinfo=UTC)))
    assert gone.status == "failed"
    assert "not published yet" in gone.message
    assert res.path.read_bytes() == mmdb
    assert dbip_urls("https://x/free", "asn", datetime(2024, 1, 5, tzinfo=UTC)) == (
        "https://x/free/dbip-asn-lite-2024-01.mmdb.gz",
        "https://x/free/dbip-asn-lite-2023-12.mmdb.gz",
    )


# ------------------------------------------ failures never touch the installed file


def _bad_routes(tmp_path: Path) -> dict[str, Route]:
    good = build_mmdb("US")
    corrupt_tree = b"\xff" * 300 + good[300:]
    return {
        "random-bytes": Route(b"\x00" + random.Random(1).randbytes(5000)),
        "truncated-gzip": Route(gzip.compress(good)[:-40]),
        "corrupt-search-tree": Route(corrupt_tree),
        "tar-with-dotdot": Route(build_tar_gz({"../../evil.mmdb": good})),
        "tar-absolute": Route(build_tar_gz({"/etc/x.mmdb": good})),
        "tar-without-database": Route(build_tar_gz({"x/README.txt": b"no db"}, dirs=("x",))),
        "oversize": Route(good + b"\0" * 70_000),
        "gzip-bomb": Route(gzip.compress(b"\0" * 200_000)),
        "truncated-transfer": Route(good[:500], claimed_length=len(good)),
        "server-error": Route(b"oops", status=500),
        "empty": Route(b""),
        "csv-garbage": Route(b"hello,world\nfoo,bar\n1,x\n"),
        "timeout": Route(good, delay=3.0),
    }


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("random-bytes", "not a database"),
        ("truncated-gzip", "truncated gzip"),
        ("corrupt-search-tree", "not a readable MaxMind DB"),
        ("tar-with-dotdot", "unsafe path"),
        ("tar-absolute", "unsafe path"),
        ("tar-without-database", "no .mmdb or .csv"),
        ("oversize", "exceeds download_max_bytes"),
        ("gzip-bomb", "exceeds download_max_bytes"),
        ("truncated-transfer", "download failed: peer closed connection"),
        ("server-error", "HTTP 500"),
        ("empty", "not a database"),
        ("csv-garbage", "not a CSV of IP ranges"),
        ("timeout", "timed out"),
    ],
)
def test_bad_download_fails_and_keeps_installed_file(
    tmp_path: Path, server: FileServer, case: str, expected: str
) -> None:
    good = build_mmdb("AU")
    server.routes["/db.mmdb"] = Route(good, etag='"good"')
    settings = make_settings(
        tmp_path,
        server,
        [{"name": "db", "url": server.base + "/db.mmdb"}],
        download_max_bytes=64_000,
        download_timeout_s=0.5,
    )
    installed = one(update_databases(settings)).path
    assert installed is not None
    before = (installed.stat().st_ino, installed.read_bytes(), load_state(installed.parent, "db"))
    server.routes["/db.mmdb"] = _bad_routes(tmp_path)[case]

    res = one(update_databases(settings))

    assert res.status == "failed"
    assert res.path is None
    assert expected in res.message, res.message
    assert ".db." not in res.message  # names the source, not a scratch file
    assert "/db.mmdb" in res.message
    assert (
        installed.stat().st_ino,
        installed.read_bytes(),
        load_state(installed.parent, "db"),
    ) == before
    assert dir_listing(settings) == [".update.lock", "db.mmdb", "db.state.json"]


def test_custom_verify_rejects_and_http_errors_are_per_source(
    tmp_path: Path, server: FileServer
) -> None:
    server.routes["/ok.mmdb"] = Route(build_mmdb())
    seen: list[Path] = []

    def verify(path: Path) -> None:
        seen.append(path)
        raise DatabaseError(f"{path.name}: no answer for 8.8.8.8")

    settings = make_settings(
        tmp_path,
        server,
        [
            {"name": "ok", "url": server.base + "/ok.mmdb"},
            {"name": "nokey", "kind": "maxmind", "edition": "GeoLite2-ASN"},
            {"name": "refused", "url": "http://127.0.0.1:9/x.mmdb"},
        ],
    )
    results = {r.name: r for r in update_databases(settings, verify=verify)}

    assert {r.status for r in results.values()} == {"failed"}
    assert "no answer for 8.8.8.8" in results["ok"].message
    assert seen[0].suffix == ".mmdb"
    assert not seen[0].exists()
    assert "account_id and license_key" in results["nokey"].message
    assert "download failed" in results["refused"].message
    assert not (settings.geoip_download_dir() / "ok.mmdb").exists()
    with pytest.raises(ConfigError, match="no GeoIP source named nope"):
        update_databases(settings, only=["nope"])


def test_concurrent_update_is_refused(tmp_path: Path, server: FileServer) -> None:
    import fcntl

    settings = make_settings(tmp_path, server, [{"name": "x", "url": server.base + "/x.mmdb"}])
    settings.geoip_download_dir().mkdir(parents=True)
    with (settings.geoip_download_dir() / ".update.lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another geoip update is running"):
            update_databases(settings)


# ---------------------------------------------------------------- verify, schedule, watcher, names


def test_default_verify_accepts_ipv4_only_and_num_csv(tmp_path: Path) -> None:
    v4 = tmp_path / "v4.mmdb"
    v4.write_bytes(build_mmdb(ip_version=4))
    default_verify(v4)
    num = tmp_path / "num.csv"
    num.write_text("16777216,16777471,AU\n")
    default_verify(num)
    with pytest.raises(DatabaseError, match=r"not a \.mmdb or \.csv"):
        default_verify(tmp_path / "x.dat")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatabaseError, match="not a readable CSV"):
        default_verify(bad)


def test_update_schedule(tmp_path: Path) -> None:
    now = datetime(2024, 6, 30, 12, tzinfo=UTC)
    db = tmp_path / "x.mmdb"
    db.write_bytes(b"x")

    def state(days_ago: float, path: Path = db) -> SourceState:
        when = now - timedelta(days=days_ago)
        return SourceState("u", None, None, "0" * 64, 1, path, when, when)

    def due(schedule: str, st: SourceState | None) -> bool:
        settings = Settings(data_dir=tmp_path, geoip={"update_schedule": schedule})
        return update_due(settings, st, now)

    assert not due("manual", None)
    assert not due("manual", state(400))
    assert due("weekly", None)
    assert due("weekly", state(7))
    assert not due("weekly", state(6.9))
    assert due("monthly", state(30))
    assert not due("monthly", state(29))
    assert due("monthly", state(1, tmp_path / "deleted.mmdb"))
    settings = Settings(
        data_dir=tmp_path,
        geoip={
            "update_schedule": "weekly",
            "sources": [{"name": "x", "url": "http://127.0.0.1:9/x"}],
        },
    )
    assert due_targets(settings, now) == ["x"]


def test_watcher_detects_replace_at_same_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "db.mmdb"
    path.write_bytes(b"a" * 100)
    later = tmp_path / "missing.mmdb"
    watcher = DatabaseWatcher([path, later])
    assert watcher.changed() == []
    st = path.stat()
    tmp = tmp_path / "new"
    tmp.write_bytes(b"b" * 100)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)
    assert watcher.changed() == [path]
    assert watcher.changed() == []
    path.unlink()
    assert watcher.changed() == []
    later.write_bytes(b"c")
    assert watcher.changed() == [later]
    watcher.rearm(later)
    assert watcher.changed() == [later]


def test_source_names_must_be_file_names() -> None:
    for bad in ("../evil", "a/b", ".hidden", ""):
        with pytest.raises(ValidationError):
            GeoIPSource(name=bad, url="http://127.0.0.1/x")


def test_redact_hides_credentials() -> None:
    assert redact("https://u:pw@127.0.0.1/a.mmdb?license_key=abc") == "https://127.0.0.1/a.mmdb?…"
