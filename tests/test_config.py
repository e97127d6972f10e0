"""Profiles and paths come from the environment, with clear errors."""

from __future__ import annotations

import pooch
import pytest

from conftest import PROJECT
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


def test_cache_defaults_to_the_checkout_it_runs_from(monkeypatch):
    # make, a kernel started from JupyterLab by hand and pytest all share one cache
    monkeypatch.delenv("GENRE_LAB_CACHE", raising=False)
    assert config.source_checkout() == PROJECT
    assert config.cache_dir() == PROJECT / ".cache" / "genre-lab"


def test_cache_of_an_installed_wheel_is_the_platform_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("GENRE_LAB_CACHE", raising=False)
    installed = tmp_path / "site-packages" / "genre_lab" / "config.py"
    monkeypatch.setattr(config, "__file__", str(installed))
    monkeypatch.setattr(pooch, "os_cache", lambda name: tmp_path / "platform" / name)
    assert config.source_checkout() is None
    assert config.cache_dir() == tmp_path / "platform" / "genre-lab"
