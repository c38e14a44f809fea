"""The dashboard in Chromium against a running `trafficatlas demo` (real server, real traffic)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from demo_browser import ADMIN_PASSWORD, SCREENSHOTS, Demo

pytestmark = [pytest.mark.browser, pytest.mark.network]

PAGES = {
    "overview": "/",
    "countries": "/countries",
    "asn": "/asn",
    "peers": "/peers",
    "peer": "/peers/peer-1",
    "live": "/live",
    "settings": "/settings",
}


def exact_bytes(text: str | None) -> int:
    """The integer in an exact-bytes title such as "1,234,567 bytes"."""
    assert text, "no exact value in the title"
    return int(re.sub(r"[^0-9]", "", text.split("byte")[0]))


def total_bytes(page: Any) -> int:
    """The Traffic total of the page once loaded (its exact value, from the title)."""
    cell = page.get_by_test_id("total-bytes")
    cell.and_(page.locator("[title]")).wait_for()
    return exact_bytes(cell.get_attribute("title"))


def painted_pixels(page: Any, layer: str) -> int:
    """Non-transparent pixels on one of the map's canvas layers (zr_0: countries, zr_2: bubbles)."""
    count: int = page.evaluate(
        """(layer) => {
          const c = document.querySelector(`[data-testid=world-map] canvas[data-zr-dom-id^="${layer}."]`)
          if (!c) return -1
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
          let n = 0
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++
          return n
        }""",
        layer,
    )
    return count


def wait_map(page: Any) -> None:
    """Until the map has drawn countries and bubbles (ECharts paints asynchronously)."""
    page.wait_for_function(
        """() => {
          const m = document.querySelector('[data-testid=world-map]')
          return m && /Largest destinations: /.test(m.getAttribute('aria-label') || '')
            && m.querySelectorAll('canvas').length >= 2
        }"""
    )
    deadline = time.monotonic() + 10
    while painted_pixels(page, "zr_2") <= 0 and time.monotonic() < deadline:
        page.wait_for_timeout(100)


def test_login_rejects_wrong_password_then_logs_in(demo: Demo, browser: Any) -> None:
    ctx = browser.new_context(base_url=demo.url)
    try:
        page = ctx.new_page()
        page.goto("/countries")
        page.wait_for_url(re.compile(r"/login\?next="))
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("not the password at all")
        page.get_by_role("button", name="Log in").click()
        expect_text(page.get_by_test_id("login-error"), "Wrong user name or password.")
        assert "/login" in page.url
        assert page.context.cookies() == [] or not any(
            c["name"].startswith("trafficatlas") and "session" in c["name"]
            for c in page.context.cookies()
        )
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/countries"))  # back where the login started
        assert total_bytes(page) > 0
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r"/login"))
    finally:
        ctx.close()


def expect_text(locator: Any, text: str, timeout: float = 10.0) -> None:
    """Wait until the element shows ``text`` (pages fill in names once their data arrives)."""
    locator.wait_for()
    deadline = time.monotonic() + timeout
    got = locator.inner_text().strip()
    while got != text and time.monotonic() < deadline:
        time.sleep(0.05)
        got = locator.inner_text().strip()
    assert got == text


def test_map_renders_countries_and_bubbles_with_data(demo: Demo, page: Any) -> None:
    page.goto("/?range=24h")
    wait_map(page)
    label = page.get_by_test_id("world-map").get_attribute("aria-label")
    api = demo.api()
    top = api.get("/api/metrics/geo/countries", params={"since": "24h"}).json()["rows"]
    first = next(r for r in top if r["code"])
    assert f"Largest destinations: {first['name']} " in label
    # land (zr_0) and the bubble layer (zr_2) are both painted
    assert painted_pixels(page, "zr_0") > 100_000
    assert painted_pixels(page, "zr_2") > 200
    # flow lines from the site (the demo has a home location): their own layer zr_3
    assert painted_pixels(page, "zr_3") > 50


def find_country_tooltip(page: Any) -> tuple[str, float, float]:
    """Hover over the map until a country's tooltip with numbers shows; (text, x, y)."""
    box = page.get_by_test_id("world-map").bounding_box()
    # rows through the inhabited latitudes first: most traffic is in the northern hemisphere
    for fy in (0.3, 0.35, 0.4, 0.25, 0.45, 0.5, 0.6):
        for fx in [i / 24 for i in range(2, 23)]:
            x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
            page.mouse.move(x, y)
            page.wait_for_timeout(40)
            tip = page.evaluate(
                """() => {
                  const m = document.querySelector('[data-testid=world-map]')
                  const t = [...m.querySelectorAll('div')].find(
                    (d) => d.style.position === 'absolute' && d.innerText.includes('of all traffic')
                      && getComputedStyle(d).opacity !== '0' && d.style.display !== 'none')
                  return t ? t.innerText : ''
                }"""
            )
            if tip and "," not in tip.splitlines()[0]:  # a country, not a "City, Country" bubble
                return tip, x, y
    raise AssertionError("no country tooltip anywhere on the map")


def test_hover_shows_country_numbers_and_click_filters_tables(demo: Demo, page: Any) -> None:
    page.goto("/?range=24h")
    wait_map(page)
    tip, x, y = find_country_tooltip(page)
    lines = [s.strip() for s in tip.splitlines() if s.strip()]
    name = re.sub(r"^\W+\s*", "", lines[0])  # drop the flag
    exact = exact_bytes(re.search(r"\(([\d,]+ bytes?)\)", tip).group(1))  # type: ignore[union-attr]
    assert re.search(r"↑ .+ sent · ↓ .+ received", tip)
    assert re.search(r"[\d.]+ ?% of all traffic", tip)
    api = demo.api()
    rows = api.get("/api/metrics/geo/countries", params={"since": "24h"}).json()["rows"]
    row = next(r for r in rows if r["name"] == name)
    # the live demo keeps adding traffic: the tooltip's number is from the same minute or older
    assert 0 < exact <= row["total_bytes"] and exact > 0.9 * row["total_bytes"]

    page.mouse.click(x, y)
    page.wait_for_url(re.compile(rf"country={row['code']}"))
    table = page.locator("table", has=page.locator("caption", has_text="Top countries"))
    page.wait_for_function(
        """(name) => {
          const t = [...document.querySelectorAll('table')].find((t) => t.caption?.innerText.includes('Top countries'))
          const rows = t ? [...t.tBodies[0].rows] : []
          return rows.length === 1 && rows[0].innerText.includes(name)
        }""",
        arg=name,
    )
    assert table.locator("tbody tr").count() == 1
    # the headline totals are that country's now
    assert abs(total_bytes(page) - row["total_bytes"]) <= 0.1 * row["total_bytes"]


def test_range_picker_changes_the_numbers(page: Any) -> None:
    page.goto("/countries?range=24h")
    day = total_bytes(page)
    page.locator("[data-range='1h']").click()
    page.wait_for_url(re.compile(r"range=1h"))
    page.wait_for_function(
        "(day) => { const t = document.querySelector('[data-testid=total-bytes]').title;"
        " return t && Number(t.replace(/[^0-9]/g, '')) !== day }",
        arg=day,
    )
    hour = total_bytes(page)
    assert 0 < hour < day


def test_peer_page_shows_that_peer_only(demo: Demo, page: Any) -> None:
    page.goto("/peers?range=24h")
    link = page.get_by_role("link", name=re.compile("bob-phone"))
    link.click()
    page.wait_for_url(re.compile(r"/peers/peer-2"))
    expect_text(page.locator("h1"), "Peer bob-phone")
    shown = total_bytes(page)
    api = demo.api()
    peers = api.get("/api/metrics/peers", params={"since": "24h"}).json()
    mine = next(r for r in peers["rows"] if r["id"] == "peer-2")
    assert mine["name"] == "bob-phone"
    assert abs(shown - mine["total_bytes"]) <= 0.05 * mine["total_bytes"]
    assert shown < 0.5 * peers["totals"]["total_bytes"]  # not everyone's traffic


def test_exports_download_and_parse(page: Any) -> None:
    # a closed range in the past: both downloads answer the same question exactly
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    frm = (now - timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    to = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    page.goto(f"/countries?range=custom&from={frm}&to={to}")
    shown = total_bytes(page)
    with page.expect_download() as dl_csv:
        page.locator("[data-export='country-csv']").click()
    with page.expect_download() as dl_json:
        page.locator("[data-export='country-json']").click()
    assert dl_csv.value.suggested_filename.endswith(".csv")
    text = Path(dl_csv.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    doc = json.loads(Path(dl_json.value.path()).read_text(encoding="utf-8"))
    assert len(rows) == len(doc["rows"]) > 5
    csv_sum = sum(int(r["total"]) for r in rows)
    assert csv_sum == sum(int(r["total"]) for r in doc["rows"])
    assert csv_sum == doc["metadata"]["totals"]["total_bytes"] == shown
    assert {r["country"] for r in rows} == {r["country"] or "" for r in doc["rows"]}


def test_live_updates_arrive(page: Any) -> None:
    page.goto("/live")
    status = page.locator(".live-status[data-status=open]")
    status.wait_for()
    window = page.locator("dl.totals dd").first
    window.wait_for()
    first = window.get_attribute("title")
    page.wait_for_function(
        "(first) => document.querySelector('dl.totals dd')?.title !== first",
        arg=first,
        timeout=15_000,
    )
    assert exact_bytes(window.get_attribute("title")) > 0
    wait_map(page)


def test_peers_show_last_handshake_and_endpoint_location(demo: Demo, page: Any) -> None:
    api = demo.api()
    rows = api.get("/api/metrics/peers", params={"since": "24h"}).json()["rows"]
    bob = next(r for r in rows if r["id"] == "peer-2")
    assert (bob["endpoint"]["country"], bob["endpoint"]["asn"]) == ("DE", 3320)
    assert bob["endpoint"]["address"] is None  # the demo keeps flow detail off: no raw addresses
    assert time.time() - 200 < bob["last_handshake"] <= time.time() + 1  # every two minutes

    page.goto("/peers?range=24h")
    row = page.locator("tbody tr", has=page.get_by_role("link", name="bob-phone"))
    row.wait_for()
    headers = page.locator("thead th").all_inner_texts()
    at = {h.strip().rstrip("▲▼").strip(): i for i, h in enumerate(headers)}
    cells = row.locator("td")
    handshake = cells.nth(at["Last handshake"])
    assert re.fullmatch(r"just now|\d+ (s|min) ago", handshake.inner_text().strip())
    assert (handshake.get_attribute("title") or "").startswith("Last handshake 20")
    where = cells.nth(at["Connects from"])
    assert where.inner_text().strip() == "🇩🇪 Germany"
    assert where.get_attribute("title") == "AS3320 Deutsche Telekom AG"

    row.get_by_role("link", name="bob-phone").click()
    page.wait_for_url(re.compile(r"/peers/peer-2"))
    expect_text(page.get_by_test_id("peer-endpoint"), "🇩🇪 Germany")
    expect_text(page.get_by_test_id("peer-network"), "AS3320 Deutsche Telekom AG")
    assert re.fullmatch(
        r"just now|\d+ (s|min) ago", page.get_by_test_id("peer-handshake").inner_text().strip()
    )
    # the map's peer layer puts bob where he connects from
    wait_map(page)
    label = page.get_by_test_id("world-map").get_attribute("aria-label") or ""
    assert label.endswith("Peers connect from Germany.")
    deadline = time.monotonic() + 10
    while painted_pixels(page, "zr_4") <= 20 and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # the peer layer paints after the bubbles
    assert painted_pixels(page, "zr_4") > 20


def live_table(page: Any, caption: str) -> Any:
    """A table of the Live page once the feed has filled it."""
    table = page.locator("table", has=page.locator("caption", has_text=caption))
    table.locator("tbody tr td.num").first.wait_for()
    return table


def test_live_shows_networks_with_sent_and_received(demo: Demo, page: Any) -> None:
    page.goto("/live")
    table = live_table(page, "Live traffic by network")
    headers = [h.strip().rstrip("▲▼").strip() for h in table.locator("thead th").all_inner_texts()]
    assert headers[:4] == ["Network", "Country", "↑ Sent", "↓ Received"]
    rows = table.locator("tbody tr")
    texts = [rows.nth(i).locator("td").first.inner_text() for i in range(min(rows.count(), 10))]
    # flag, AS number and organization of the remote network (the demo talks to real ASNs)
    assert all(re.search(r"AS\d+ \S", t) for t in texts), texts
    sent = [exact_bytes(t) for t in table.locator("tbody td:nth-child(3)").evaluate_all(
        "(tds) => tds.map((td) => td.title)")]  # fmt: skip
    got = [exact_bytes(t) for t in table.locator("tbody td:nth-child(4)").evaluate_all(
        "(tds) => tds.map((td) => td.title)")]  # fmt: skip
    assert sum(sent) > 0 and sum(got) > 0
    assert sum(got) > sum(sent)  # the demo's replies (downloads) are larger than its requests
    countries = live_table(page, "Live traffic by country")
    assert "↑ Sent" in countries.locator("thead").inner_text()


def test_live_and_peers_tables_fit_a_phone(demo: Demo, browser: Any, auth_state: str) -> None:
    """At 390 px the Live tables keep the name and both directions, the peers table its state,
    and none of them scrolls sideways."""
    ctx = browser.new_context(
        base_url=demo.url,
        storage_state=auth_state,
        viewport=VIEWPORTS["phone"],
        is_mobile=True,
        has_touch=True,
        reduced_motion="reduce",
    )
    try:
        page = ctx.new_page()
        page.goto("/live")
        for caption in ("Live traffic by network", "Live traffic by country"):
            live_table(page, caption)
        wide = page.evaluate(
            """() => [...document.querySelectorAll('.data-table .scroll')]
                 .map((s) => s.scrollWidth - s.clientWidth)"""
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "live-tables-phone.png"), full_page=True)
        assert len(wide) == 3 and max(wide) <= 1, f"Live tables wider than their cards: {wide}"
        table = live_table(page, "Live traffic by network")
        visible = table.locator("thead th:visible").all_inner_texts()
        assert [h.strip().rstrip("▲▼").strip() for h in visible] == [
            "Network",
            "↑ Sent",
            "↓ Received",
        ]
        # the peers list keeps name, handshake, endpoint and total on a phone, also unscrolled
        page.goto("/peers?range=24h")
        page.locator("tbody tr", has=page.get_by_role("link", name="bob-phone")).wait_for()
        scroll = page.locator(".data-table .scroll")
        assert scroll.evaluate("(s) => s.scrollWidth - s.clientWidth") <= 1
        visible = page.locator("thead th:visible").all_inner_texts()
        assert [" ".join(h.split()).rstrip("▲▼").strip() for h in visible] == [
            "Peer",
            "Last handshake",
            "Connects from",
            "Total",
        ]
    finally:
        ctx.close()


WITH_TOTALS = ("overview", "countries", "asn", "peers", "peer")
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_screenshots_of_every_page(
    demo: Demo, browser: Any, auth_state: str, theme: str, device: str
) -> None:
    """Every page in both themes at both widths, under artifacts/screenshots/ (look at them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(
        base_url=demo.url,
        storage_state=auth_state,
        viewport=VIEWPORTS[device],
        device_scale_factor=1,
        reduced_motion="reduce",  # a still map: no moving arrows half-way along their lines
        is_mobile=device == "phone",
        has_touch=device == "phone",
    )
    ctx.add_init_script(f"localStorage.setItem('trafficatlas.theme', '{theme}')")
    ctx.set_default_timeout(15_000)
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for name, path in {**PAGES, "login": "/login"}.items():
            page.goto(f"{path}?range=24h" if name != "live" else path)
            if name in WITH_TOTALS:
                total_bytes(page)
            if name in ("overview", "peer", "live"):
                wait_map(page)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.dataset.theme") == theme
            # nothing may stick out sideways (a phone would scroll the whole page)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{theme}-{device}.png"), full_page=True)
            assert overflow <= 1, f"{name} is {overflow}px wider than the {device} screen"
    finally:
        ctx.close()
    assert not errors, errors


PAINT_RUNS = 5


def test_overview_paints_and_paint_time_is_recorded(
    demo: Demo, browser: Any, auth_state: str
) -> None:
    """Navigation → totals and the map's countries and bubbles on screen, on every cold load.

    The median time goes to artifacts/paint.json for docs/benchmarks.md; the 1.5 s target is a
    benchmark figure, not asserted here (a loaded CI machine must not fail the suite).
    """
    times: list[float] = []
    for _ in range(PAINT_RUNS):
        ctx = browser.new_context(  # a fresh context: empty HTTP cache, a cold load each time
            base_url=demo.url, storage_state=auth_state, viewport={"width": 1440, "height": 900}
        )
        try:
            page = ctx.new_page()
            page.goto("/?range=24h", wait_until="commit")
            painted = page.wait_for_function(
                """() => {
                  const t = document.querySelector('[data-testid=total-bytes]')
                  const layer = (id) => {
                    const c = document.querySelector(`[data-testid=world-map] canvas[data-zr-dom-id^="${id}."]`)
                    if (!c) return false
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
                    for (let i = 3; i < d.length; i += 16) if (d[i] > 0) return true
                    return false
                  }
                  return t && t.title && layer('zr_0') && layer('zr_2') ? performance.now() : 0
                }""",
                polling="raf",
                timeout=15_000,
            )
            times.append(float(painted.json_value()))
        finally:
            ctx.close()
    times.sort()
    median = times[len(times) // 2]
    out = SCREENSHOTS.parent / "paint.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs_ms": times, "median_ms": median}, indent=1))
    assert len(times) == PAINT_RUNS
    assert all(t > 0 for t in times)
