"""The one cache folder: $DSL_CACHE_DIR, else $XDG_CACHE_HOME/dsl_deploy, else ~/.cache/dsl_deploy."""
from __future__ import annotations

from pathlib import Path

import pytest

from dsl_deploy.cache import cache_dir


def test_dsl_cache_dir_wins_then_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DSL_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir("timing") == tmp_path / "home" / ".cache" / "dsl_deploy" / "timing"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "dsl_deploy"
    monkeypatch.setenv("DSL_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir("demo", "x") == tmp_path / "mine" / "demo" / "x"
