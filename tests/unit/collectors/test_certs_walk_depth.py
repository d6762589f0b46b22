"""Issue 17: a directory nested 1,100 deep is an error of its own, and every path after it is still read."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from tests.support.kubeadm_tree import KubeadmTree
from watchtower.collectors.certsources.base import CertRecord
from watchtower.collectors.certsources.files import MAX_WALK_DEPTH, FileSource
from watchtower.core.results import ItemError

NOW = datetime.datetime.now(datetime.UTC)


def _nest(root: Path, depth: int) -> Path:
    deepest = root
    os.makedirs(root, exist_ok=True)
    for _ in range(depth):  # one makedirs call per level keeps every path short enough
        deepest = deepest / "d"
        deepest.mkdir()
    return deepest


def test_deep_directory_is_too_deep_and_later_paths_are_read(tmp_path: Path) -> None:
    tree = KubeadmTree(tmp_path / "k", NOW - datetime.timedelta(days=30))
    deepest = _nest(tmp_path / "deep", 1_100)
    (deepest / "bottom.crt").write_bytes(tree.leaf_pem("bottom", NOW))
    shallow = tmp_path / "deep" / "d" / "top.crt"
    shallow.write_bytes(tree.leaf_pem("top", NOW))
    after = tree.leaf("after.crt", NOW)
    try:
        records = list(FileSource((str(tmp_path / "deep"), str(after), str(tmp_path / "deep" / "**" / "*.crt"))).read())
    finally:  # pytest's tmp_path cleanup (shutil.rmtree) recurses per level: unnest it here
        (deepest / "bottom.crt").unlink()
        shallow.unlink()
        level = deepest
        while level != tmp_path / "deep":
            level.rmdir()
            level = level.parent
    certs = [r.location for r in records if isinstance(r, CertRecord)]
    errors = [(r.location, r.reason) for r in records if isinstance(r, ItemError)]
    assert str(shallow) in certs and str(after) in certs
    too_deep = [loc for loc, reason in errors if reason == "too_deep"]
    assert len(too_deep) == 2, errors  # the walk's depth limit and the glob's
    assert too_deep[0].count("/d") == MAX_WALK_DEPTH + 1
