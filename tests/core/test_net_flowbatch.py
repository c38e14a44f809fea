import numpy as np
import pytest

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.net import format_ip, format_network, parse_ip, parse_ips, unmap_v4


def test_parse_and_format() -> None:
    assert parse_ip("8.8.8.8") == (4, 0, 0x08080808)
    assert parse_ip("::ffff:1.2.3.4") == (4, 0, 0x01020304)
    v, hi, lo = parse_ip("2001:db8::1")
    assert (v, hi, lo) == (6, 0x20010DB800000000, 1)
    assert format_ip(6, hi, lo) == "2001:db8::1"
    assert format_network(4, 0, 0x0A000000, 8) == "10.0.0.0/8"
    with pytest.raises(ValueError, match="not an IP address"):
        parse_ip("999.1.1.1")


def test_unmap_vectorized() -> None:
    v = np.array([6, 6, 4], np.uint8)
    hi = np.array([0, 1, 0], np.uint64)
    lo = np.array([0xFFFF_0A00_0001, 5, 7], np.uint64)
    v2, _hi2, lo2 = unmap_v4(v, hi, lo)
    assert list(v2) == [4, 6, 4]
    assert list(lo2) == [0x0A000001, 5, 7]
    assert list(parse_ips([])[0]) == []


def test_flowbatch_build_concat_take() -> None:
    a = FlowBatch.from_columns(2, bytes=[10, 20], packets=1, proto=6)
    b = FlowBatch.from_columns(1, bytes=[5], packets=[2])
    c = FlowBatch.concat([a, b])
    assert len(c) == 3
    assert c.totals() == {"flows": 3, "packets": 4, "bytes": 35}
    assert c.take(c.bytes > 9).totals()["bytes"] == 30
    with pytest.raises(TypeError):
        FlowBatch.from_columns(1, nope=[1])
    with pytest.raises(ValueError, match="shape"):
        FlowBatch.from_columns(2, bytes=[1, 2, 3])
    assert len(FlowBatch.concat([])) == 0
