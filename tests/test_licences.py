"""The licence files, pyproject.toml, CITATION.cff, the README and the book say the same:
code MIT, text and figures CC BY 4.0, musicnn's weights ISC (with its notice)."""

from __future__ import annotations

import glob
import re

import pytest
import yaml

from conftest import PROJECT

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads TOML")

FILES = {"LICENSE": ("MIT License", "Copyright (c) 2026 genre-lab contributors",
                     "Permission is hereby granted, free of charge"),
         "LICENSES/CC-BY-4.0.txt": ("Creative Commons Attribution 4.0 International Public License",
                                    "Section 8", "Sui Generis Database Rights"),
         "LICENSES/musicnn-ISC.txt": ("Music Technology Group, Universitat Pompeu Fabra 2019",
                                      "Permission to use, copy, modify, and/or distribute")}


def _words(text: str) -> str:
    return " ".join(text.split())


def _pyproject() -> dict:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]


def test_the_licence_files_are_there_and_whole():
    for name, phrases in FILES.items():
        text = (PROJECT / name).read_text()
        assert len(text) > {"LICENSES/CC-BY-4.0.txt": 15000}.get(name, 1000), name
        for phrase in phrases:
            assert phrase in text, f"{name}: no {phrase!r}"
    assert (PROJECT / "LICENSE").read_text().startswith("MIT License")  # as GitHub detects it
    scope = (PROJECT / "LICENSES" / "README.md").read_text()
    for part in ("genre_lab/", "tests/", "benchmarks/", "tools/", "book/*.py", "code cells",
                 "LICENSES/CC-BY-4.0.txt", "LICENSES/musicnn-ISC.txt"):
        assert part in scope, f"LICENSES/README.md does not say what MIT covers: {part}"


def test_the_notice_in_probe_checkpoints_is_the_notice_file():
    from genre_lab.pretrained import transfer

    isc = (PROJECT / "LICENSES/musicnn-ISC.txt").read_text().split("verbatim")[1]
    assert _words(isc.split(":", 1)[1]) in _words(transfer.MUSICNN_NOTICE)


def test_pyproject_names_the_licence_and_ships_the_files():
    project = _pyproject()
    assert project["license"] == "MIT"
    shipped = {p for pattern in project["license-files"] for p in glob.glob(pattern,
                                                                            root_dir=PROJECT)}
    assert shipped == set(FILES) | {"LICENSES/README.md"}


def test_citation_cff_parses_and_agrees_with_pyproject():
    cff = yaml.safe_load((PROJECT / "CITATION.cff").read_text())
    project = _pyproject()
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == project["version"]
    assert [a["name"] for a in cff["authors"]] == [a["name"] for a in project["authors"]]
    assert set(cff["license"]) == {project["license"], "CC-BY-4.0"}
    # the references say what book/references.bib says
    bib = _words(re.sub(r"[{}]", "", (PROJECT / "book/references.bib").read_text())).lower()
    titles = {ref["title"] for ref in cff["references"]}
    assert {"Musical genre classification of audio signals",
            "musicnn: pre-trained convolutional neural networks for music audio tagging"} <= titles
    for ref in cff["references"]:
        if ref["type"] != "software":
            assert _words(ref["title"]).lower() in bib, ref["title"]
            assert f"year = {ref['year']}" in bib
    gtzan = next(r for r in cff["references"] if r["title"].startswith("Musical genre"))
    assert "doi = 10.1109/tsa.2002.800560" in bib and gtzan["doi"] == "10.1109/TSA.2002.800560"


def test_readme_and_book_name_each_licence():
    readme = (PROJECT / "README.md").read_text()
    section = readme.split("## Licences and citation")[1].split("\n## ")[0]
    assert readme.index("## Licences and citation") < readme.index("## For developers")
    for needle in ("MIT", "CC BY 4.0", "ISC", "Pons & Serra", "GTZAN", "FMA",
                   "CITATION.cff", *FILES):
        assert needle in section, f"README's licence section: no {needle}"
    config = yaml.safe_load((PROJECT / "book/_config.yml").read_text())
    assert "CC BY 4.0" in config["copyright"] and "MIT" in config["copyright"]
    intro = (PROJECT / "book/intro.md").read_text()
    assert "CC BY 4.0" in intro and "CITATION.cff" in intro
