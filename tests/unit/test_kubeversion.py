from __future__ import annotations

import pytest

from watchtower.upgrades.kubeversion import (
    kubelet_skew_allowed,
    minor_distance,
    parse_version,
    try_parse_version,
    upgrades_needed,
)


def test_parse_plain_and_prefixed_versions() -> None:
    v = parse_version("v1.30.2")
    assert (v.major, v.minor, v.patch, v.minor_text, str(v)) == (1, 30, 2, "1.30", "v1.30.2")
    assert str(parse_version("1.31.4")) == "v1.31.4"  # endoflife.date writes no "v"
    assert parse_version("v1.29.0-rc.1+k3s1").is_prerelease


@pytest.mark.parametrize("text", ["", "1", "v1.x.2", "latest", "v1.30.2\nv1.31.0", "<html>"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_version(text)
    assert try_parse_version(text) is None
    assert try_parse_version(None) is None


def test_ordering_follows_semver() -> None:
    assert parse_version("v1.30.10") > parse_version("v1.30.9")
    assert parse_version("v1.31.0-rc.1") < parse_version("v1.31.0")
    assert parse_version("v1.31.0") > parse_version("v1.30.99")
    assert parse_version("v1.30.2") == parse_version("1.30.2")


def test_minor_distance_and_upgrades_one_minor_at_a_time() -> None:
    assert minor_distance(parse_version("v1.31.4"), parse_version("v1.27.16")) == 4
    assert upgrades_needed(parse_version("v1.27.16"), parse_version("v1.31.4")) == 4
    assert upgrades_needed(parse_version("v1.31.1"), parse_version("v1.31.4")) == 1  # a patch is an upgrade
    assert upgrades_needed(parse_version("v1.31.4"), parse_version("v1.31.4")) == 0
    assert minor_distance(parse_version("v1.30.0"), parse_version("v1.31.0")) == -1


@pytest.mark.parametrize(("skew", "allowed"), [(-1, False), (0, True), (3, True), (4, False)])
def test_kubelet_skew_policy(skew: int, allowed: bool) -> None:
    assert kubelet_skew_allowed(skew) is allowed
