"""Profiles and paths come from the environment, with clear errors."""

from __future__ import annotations

import pytest

from genre_lab import config


def test_default_profile_is_quick(monkeypatch):
    monkeypatch.delenv("GENRE_LAB_PROFILE", raising=False)
    assert config.get_profile().name == "quick"


def test_profiles_scale_up(monkeypatch):
    sizes = []
    for name in ("quick", "standard", "full"):
        monkeypatch.setenv("GENRE_LAB_PROFILE", name)
        p = config.get_profile()
        sizes.append((p.clips_per_genre * p.clip_seconds, p.epochs))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GENRE_LAB_PROFILE", "huge")
    with pytest.raises(ValueError, match="unknown profile 'huge'.*quick, standard, full"):
        config.get_profile()


def test_data_root_and_cache_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GENRE_LAB_DATA", raising=False)
    assert config.data_root() is None
    monkeypatch.setenv("GENRE_LAB_DATA", str(tmp_path))
    assert config.data_root() == tmp_path
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path / "cache"))
    assert config.cache_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
