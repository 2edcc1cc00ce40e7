"""The page's vendored chart library is the one pinned here (by SHA-256), with its license, and the page loads
nothing from elsewhere (users run it offline)."""

from __future__ import annotations

import hashlib
import re

from conftest import REPO

STATIC = REPO / "nectar" / "web" / "static"
# uPlot 1.6.31 (MIT, https://github.com/leeoniya/uPlot), from its npm package's dist/ and LICENSE
PINNED = {
    "uPlot.iife.min.js": "2d27e8ad3d228164525ce213f9dc716f39b4e3aee0cc773fb3491c96cf4921a2",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
    "uPlot.LICENSE": "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}


def test_uplot_is_the_pinned_release_with_its_license() -> None:
    for name, digest in PINNED.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    license_text = (STATIC / "uPlot.LICENSE").read_text()
    assert "MIT License" in license_text and "Leon Sorokin" in license_text


def test_the_page_loads_nothing_from_another_host() -> None:
    for name in ("index.html", "app.js", "app.css"):
        text = (STATIC / name).read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), name
        assert "fetch('http" not in text and 'fetch("http' not in text, name
