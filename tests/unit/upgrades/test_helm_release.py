"""Helm release Secrets decoded exactly as Helm's decodeRelease reads them (and as the API returns them)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support import helm_release as hr
from watchtower.upgrades import helm_release as decode

MANIFEST = (
    "---\n# Source: legacy/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec: {}\n"
    "---\n# Source: legacy/templates/deployment.yaml\napiVersion: extensions/v1beta1\nkind: Deployment\n"
    "metadata:\n  name: web\n  namespace: other\nspec:\n  template: {metadata: {labels: {a: \"<b>\"}}}\n"
)


def api_value(release: dict) -> str:
    """What ``GET /api/v1/.../secrets`` returns in data.release: the API's base64 of Helm's text."""
    return base64.b64encode(hr.encode_release(release).encode()).decode()


def test_round_trip_through_both_encodings() -> None:
    doc = hr.release_document("web", "shop", MANIFEST, revision=3)
    secret = {"type": decode.SECRET_TYPE, "metadata": {"namespace": "shop"}, "data": {"release": api_value(doc)}}
    release = decode.release_from_secret(secret)
    assert (release.name, release.namespace, release.revision, release.status) == ("web", "shop", 3, "deployed")
    assert release.chart == "legacy-0.1.0"
    assert release.objects == (
        decode.ManifestObject("v1", "Service", "web", "shop", "legacy/templates/service.yaml"),
        decode.ManifestObject("extensions/v1beta1", "Deployment", "web", "other", "legacy/templates/deployment.yaml"),
    )


def test_helm_encoding_is_gzip_with_go_header() -> None:
    raw = base64.b64decode(hr.encode_release(hr.release_document("a", "b", "")))
    assert raw[:3] == decode.GZIP_MAGIC and raw[4:8] == b"\0\0\0\0" and raw[8] == 2 and raw[9] == 255  # mtime 0, XFL best, OS unknown
    assert b"<" not in hr.go_json({"x": "<b>"}) and json.loads(hr.go_json({"x": "<b>"})) == {"x": "<b>"}


def test_uncompressed_releases_are_read_like_helm_does() -> None:
    plain = base64.b64encode(json.dumps(hr.release_document("old", "ns", MANIFEST)).encode())
    value = base64.b64encode(plain).decode()
    assert decode.parse_release(decode.decode_secret_value(value)).name == "old"


@pytest.mark.parametrize(("value", "message"), [
    ("***", "not base64"),
    (base64.b64encode(b"***").decode(), "Helm's base64"),
    (base64.b64encode(base64.b64encode(decode.GZIP_MAGIC + b"garbage")).decode(), "gzip"),
    (base64.b64encode(base64.b64encode(b"[1]")).decode(), "not a JSON object"),
])
def test_broken_values_say_which_step_failed(value: str, message: str) -> None:
    with pytest.raises(decode.ReleaseDecodeError, match=message):
        decode.parse_release(decode.decode_secret_value(value))


def test_decompression_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "MAX_RELEASE_BYTES", 1000)
    doc = hr.release_document("big", "ns", "# " + "x" * 5000)
    with pytest.raises(decode.ReleaseDecodeError, match="larger than 1000 bytes"):
        decode.decode_secret_value(api_value(doc))


def test_wrong_type_and_missing_data() -> None:
    with pytest.raises(decode.ReleaseDecodeError, match="not a helm.sh/release.v1"):
        decode.release_from_secret({"type": "Opaque", "data": {"release": "eA=="}})
    with pytest.raises(decode.ReleaseDecodeError, match="no data.release"):
        decode.release_from_secret({"type": decode.SECRET_TYPE, "data": {}})


def test_manifest_edge_cases() -> None:
    objs = decode.parse_manifest("---\n# Source: c/templates/empty.yaml\n\n---\n# Source: c/templates/list.yaml\n- 1\n"
                                 "---\n# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "ns")
    assert objs == (decode.ManifestObject("v1", "ConfigMap", "x", "ns", "c/templates/cm.yaml"),)
    with pytest.raises(ValueError, match="c/templates/bad.yaml"):
        decode.parse_manifest("---\n# Source: c/templates/bad.yaml\nkey: [unclosed\n", "ns")
