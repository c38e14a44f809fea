"""The live view's AS organizations: resolved when a window is read, from the GeoIP layers."""

from __future__ import annotations

import numpy as np
import pytest

from trafficatlas.aggregate.live import AsnOrgs
from trafficatlas.enrich.engine import GeoIP
from trafficatlas.settings import Settings


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> GeoIP:
    return GeoIP.from_settings(Settings(data_dir=tmp_path_factory.mktemp("geo")))


def test_organizations_of_known_unknown_and_zero(geo: GeoIP) -> None:
    layers = geo.lookup(
        np.array([4], np.uint8), np.zeros(1, np.uint64), np.ones(1, np.uint64)
    ).layers
    orgs = AsnOrgs(layers)
    names = orgs.names(np.array([15169, 0, 3303, 4_294_967_295, 15169], np.uint32))
    assert list(names) == [
        "Google LLC",
        None,  # 0: no AS
        "Swisscom (Schweiz) AG",
        None,  # in no table
        "Google LLC",
    ]
    assert list(orgs.names(np.array([], np.uint32))) == []


def test_no_asn_layers_means_no_names() -> None:
    class Empty:
        asn: tuple[object, ...] = ()

    assert list(AsnOrgs(Empty()).names(np.array([15169], np.uint32))) == [None]
