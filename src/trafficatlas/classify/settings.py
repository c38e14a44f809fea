"""Settings of the classify stage: the site's networks and WAN addresses."""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from pydantic import Field, field_validator

from trafficatlas.classify.prefixes import parse_network
from trafficatlas.section import Section


class LocalKind(IntEnum):
    """What a local address is (the label of the network it matched)."""

    NONE = 0  # not local
    LAN = 1
    VPN = 2
    OWN = 3  # the site's own (public) prefixes, e.g. its IPv6 range
    WAN = 4  # the router's WAN address (declared or learned from NAT)
    PRIVATE = 5  # an undeclared private or other site-scoped range (private_is_local)


class LocalNetwork(Section):
    """One of the site's networks."""

    cidr: str
    label: Literal["lan", "vpn", "own"] = "lan"
    name: str = ""

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(parse_network(value))


class ClassifySettings(Section):
    """Which addresses are the site's own: decides direction, local and remote endpoint."""

    local_networks: list[LocalNetwork] = Field(default_factory=list)
    # The router's WAN address(es); more are learned from SNAT when learn_wan_from_nat is set.
    wan_addresses: list[str] = Field(default_factory=list)
    learn_wan_from_nat: bool = True
    # A learned WAN address not seen in NAT for this long is forgotten (the address may change).
    learned_wan_ttl_s: float = Field(default=86400.0, gt=0)
    # Undeclared private, CGNAT, link-local, loopback and multicast ranges count as local.
    private_is_local: bool = True

    @field_validator("wan_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [str(parse_network(v)) for v in value]
