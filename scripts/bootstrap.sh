#!/usr/bin/env bash
# Install what the project needs on a fresh Debian machine: uv, Python deps (from uv.lock),
# and, when running as root, the Debian packages the real-component tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
    echo "bootstrap: installing uv" >&2
    python3 -m pip install --quiet --disable-pip-version-check uv 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --user uv
    export PATH="$HOME/.local/bin:$PATH"
fi

# Debian packages for real exporters, conntrack, namespaces and the ClickHouse server the store
# tests start on loopback (root only; tests skip with a clear reason where these cannot be
# installed).
DEB_PACKAGES=(iproute2 iptables nftables conntrack ethtool tcpdump softflowd pmacct nfdump wireguard-tools wireguard-go chromium fonts-noto-color-emoji fonts-dejavu-core clickhouse-server)
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 && [ "${TRAFFICATLAS_SKIP_APT:-}" != "1" ]; then
    missing=()
    for p in "${DEB_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "bootstrap: apt-get install ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

uv sync --frozen --quiet --all-extras
