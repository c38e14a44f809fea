"""Authentication security: throttling and lockout, cookie flags, CSRF, hashed secrets, TOTP,
sessions that end, and no default password anywhere."""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
import time
from pathlib import Path

import pyotp
import pytest

from trafficatlas.api.app import create_app
from trafficatlas.runtime import Runtime

from support.apiserver import ADMIN_PASSWORD, PEER_PASSWORD, VIEWER_PASSWORD, LiveApi, make_settings

pytestmark = pytest.mark.network

ROOT = Path(__file__).parents[2]


def login(api: LiveApi, username: str, password: str, **extra: str) -> int:
    with api.client() as c:
        body = {"username": username, "password": password, **extra}
        return c.post("/api/auth/login", json=body).status_code


def test_brute_force_is_rate_limited_and_locks_the_name(fresh_api) -> None:  # type: ignore[no-untyped-def]
    auth = {"login_attempts_per_minute": 6, "lockout_failures": 3, "lockout_duration": "10m"}
    with fresh_api(seed=False, auth=auth) as a:
        codes = [login(a, "viewer", f"guess-{i}") for i in range(3)]
        with a.client() as c:
            locked = c.post(
                "/api/auth/login", json={"username": "viewer", "password": VIEWER_PASSWORD}
            )
        assert codes == [401, 401, 401]
        assert locked.status_code == 429  # right password, but the name is locked
        assert "locked" in locked.json()["detail"] and locked.json()["code"] == "throttled"
        assert 0 < int(locked.headers["retry-after"]) <= 600
        # the address is throttled too: 6 attempts a minute, whatever the name
        more = [login(a, f"nobody-{i}", "whatever") for i in range(3)]
        assert more[:2] == [401, 401] and more[2] == 429
        with a.client() as c:
            r = c.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 429 and "address" in r.json()["detail"]
        with a.client(a.tokens["admin"]) as c:
            audit = c.get("/api/audit", params={"action": "login"}).json()["entries"]
        reasons = {e["detail"].get("reason") for e in audit if not e["success"]}
        assert {"bad credentials", "locked", "throttled"} <= reasons


def test_session_cookie_flags(fresh_api) -> None:  # type: ignore[no-untyped-def]
    with fresh_api(seed=False) as a, a.client() as c:
        r = c.post("/api/auth/login", json={"username": "viewer", "password": VIEWER_PASSWORD})
        forwarded = c.post(
            "/api/auth/login",
            json={"username": "viewer", "password": VIEWER_PASSWORD},
            headers={"X-Forwarded-Proto": "https"},  # from a proxy on a trusted address
        )
    cookies = r.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("trafficatlas_session="))
    csrf = next(h for h in cookies if h.startswith("trafficatlas_csrf="))
    flags = {f.strip().lower() for f in session.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert any(f.startswith("max-age=") for f in flags)
    assert "secure" not in flags  # plain HTTP on loopback
    assert "httponly" not in csrf.lower()  # the page reads it to echo it
    secure = next(h for h in forwarded.headers.get_list("set-cookie") if "session=" in h)
    assert "secure" in secure.lower()


def test_csrf_is_required_for_cookie_writes(api: LiveApi) -> None:
    session = api.login("admin", ADMIN_PASSWORD)
    csrf = session.headers.pop("X-CSRF-Token")
    body = {"name": "csrf-test", "scope": "read"}
    missing = session.post("/api/tokens", json=body)
    wrong = session.post("/api/tokens", json=body, headers={"X-CSRF-Token": "0" * 64})
    right = session.post("/api/tokens", json=body, headers={"X-CSRF-Token": csrf})
    reading = session.get("/api/tokens")  # safe methods need no CSRF token
    session.close()
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    assert wrong.status_code == 403
    assert right.status_code == 201
    assert reading.status_code == 200
    with api.client(api.tokens["admin"]) as c:  # bearer tokens are not ambient credentials
        assert c.post("/api/tokens", json=body).status_code == 201


def test_secrets_are_stored_hashed(api: LiveApi) -> None:
    session = api.login("viewer", VIEWER_PASSWORD)
    cookie = session.cookies["trafficatlas_session"]
    session.close()
    with api.client(api.tokens["admin"]) as c:
        created = c.post("/api/tokens", json={"name": "hashed", "scope": "read"}).json()
    token = created["token"]
    assert token.startswith("tat_")
    with sqlite3.connect(api.metadata_path) as db:
        dump = "\n".join(db.iterdump())
        stored = db.execute(
            "SELECT token_hash FROM api_tokens WHERE id = ?", [created["info"]["id"]]
        ).fetchone()[0]
        hashes = [r[0] for r in db.execute("SELECT password_hash FROM users")]
        sessions = [r[0] for r in db.execute("SELECT token_hash FROM sessions")]
    for secret in [token, cookie, *api.tokens.values(), ADMIN_PASSWORD, VIEWER_PASSWORD]:
        assert secret not in dump
    assert token.split("_", 2)[2] not in dump  # the random part (it may itself contain "_")
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert hashlib.sha256(cookie.encode()).hexdigest() in sessions
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_totp_enrolment_and_login(fresh_api) -> None:  # type: ignore[no-untyped-def]
    with fresh_api(seed=False) as a:
        s = a.login("viewer", VIEWER_PASSWORD)
        setup = s.post("/api/auth/totp/setup").json()
        secret = setup["secret"]
        assert setup["uri"].startswith("otpauth://totp/") and "issuer=trafficatlas" in setup["uri"]
        totp = pyotp.TOTP(secret)
        wrong = _wrong_code(totp)
        assert s.post("/api/auth/totp/enable", json={"code": wrong}).status_code == 401
        assert s.get("/api/auth/session").json()["totp_enabled"] is False
        assert s.post("/api/auth/totp/enable", json={"code": totp.now()}).status_code == 200
        assert s.get("/api/auth/session").json()["totp_enabled"] is True
        s.close()
        without = a.client()
        r = without.post(
            "/api/auth/login", json={"username": "viewer", "password": VIEWER_PASSWORD}
        )
        assert r.status_code == 401 and "TOTP" in r.json()["detail"]
        assert r.json()["code"] == "totp_required"  # what the dashboard's login step keys on
        next_code = totp.at(time.time() + 30)  # the current step was used by the enrolment
        bad = {"username": "viewer", "password": VIEWER_PASSWORD, "totp_code": wrong}
        refused = without.post("/api/auth/login", json=bad)
        assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"
        good = {**bad, "totp_code": next_code}
        assert without.post("/api/auth/login", json=good).status_code == 200
        without.close()
        with a.client() as again:  # the same code a second time: refused (no replay)
            assert again.post("/api/auth/login", json=good).status_code == 401


def _wrong_code(totp: pyotp.TOTP) -> str:
    now = time.time()
    valid = {totp.at(now + d) for d in (-30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_sessions_end_on_logout_idle_disable(api: LiveApi) -> None:
    s = api.login("peer-a-user", PEER_PASSWORD)
    cookie = s.cookies["trafficatlas_session"]
    info = s.get("/api/auth/session").json()
    assert info["role"] == "peer" and info["peer_id"] == "peer-a"
    assert s.post("/api/auth/logout").status_code == 200
    with api.client(cookies={"trafficatlas_session": cookie}) as c:
        assert c.get("/api/metrics/geo/countries").status_code == 401
    s.close()
    svc = api.app.state.ctx.auth
    s = api.login("peer-a-user", PEER_PASSWORD)
    cookie = s.cookies["trafficatlas_session"]
    assert svc.session_principal(cookie) is not None
    idle = api.settings.auth.session_idle
    assert svc.session_principal(cookie, now=time.time() + idle + 1) is None
    s.close()
    s = api.login("peer-a-user", PEER_PASSWORD)
    with api.client(api.tokens["admin"]) as admin:
        r = admin.patch("/api/users/peer-a-user", json={"disabled": True})
        assert r.status_code == 200 and r.json()["disabled"] is True
        assert s.get("/api/metrics/geo/countries").status_code == 401
        assert login(api, "peer-a-user", PEER_PASSWORD) == 401
        assert admin.patch("/api/users/peer-a-user", json={"disabled": False}).status_code == 200
        last = admin.patch("/api/users/admin", json={"role": "viewer"})
        assert last.status_code == 409  # the last admin stays
    s.close()


def test_password_change_and_policy(fresh_api) -> None:  # type: ignore[no-untyped-def]
    with fresh_api(seed=False) as a:
        s = a.login("viewer", VIEWER_PASSWORD)
        weak = s.post(
            "/api/auth/password",
            json={"current_password": VIEWER_PASSWORD, "new_password": "short"},
        )
        assert weak.status_code == 400 and "at least" in weak.json()["detail"]
        ok = s.post(
            "/api/auth/password",
            json={"current_password": VIEWER_PASSWORD, "new_password": "a brand new passphrase"},
        )
        assert ok.status_code == 200
        assert s.get("/api/auth/session").status_code == 401  # every session ended
        s.close()
        assert login(a, "viewer", VIEWER_PASSWORD) == 401
        assert login(a, "viewer", "a brand new passphrase") == 200


def test_no_default_password_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAFFICATLAS_ADMIN_PASSWORD", raising=False)
    passwords = []
    for name in ("one", "two"):
        runtime = Runtime(make_settings(tmp_path / name))
        runtime.start()
        try:
            console = io.StringIO()
            app = create_app(runtime, console=console)
            printed = re.search(r"password\n\n    (\S+)\n", console.getvalue())
            assert printed, console.getvalue()
            svc = app.state.ctx.auth
            for guess in ("admin", "password", "trafficatlas", "changeme", ""):
                assert not svc.passwords.verify(svc.store.password_hash("admin"), guess)
            assert svc.passwords.verify(svc.store.password_hash("admin"), printed.group(1))
            passwords.append(printed.group(1))
            # printed once: a second start finds the admin and prints nothing
            again = io.StringIO()
            app.state.ctx.metadata.close()
            app2 = create_app(runtime, console=again)
            app2.state.ctx.metadata.close()
            assert again.getvalue() == ""
        finally:
            runtime.stop()
    assert passwords[0] != passwords[1] and len(passwords[0]) >= 20
    # nothing in the sources or the reference config sets a password value
    pattern = re.compile(r"(password|passwd)\s*[:=]\s*[\"'][^\"']+[\"']", re.IGNORECASE)
    for path in [*(ROOT / "src").rglob("*.py"), ROOT / "conf" / "trafficatlas.example.toml"]:
        for line in path.read_text().splitlines():
            assert not pattern.search(line), f"{path}: {line}"


def test_weak_admin_password_from_env_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trafficatlas.errors import ConfigError

    monkeypatch.setenv("TRAFFICATLAS_ADMIN_PASSWORD", "admin")
    runtime = Runtime(make_settings(tmp_path / "weak"))
    runtime.start()
    try:
        with pytest.raises(ConfigError, match="TRAFFICATLAS_ADMIN_PASSWORD"):
            create_app(runtime, console=io.StringIO())
    finally:
        runtime.stop()
