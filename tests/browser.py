"""Headless Chromium and poppler helpers for end-to-end checks of the paper draft."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOPPM = shutil.which("pdftoppm")

_CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-broken', JSON.stringify(broken));
  document.body.setAttribute('data-tables', document.querySelectorAll('figure.table table').length);
});
</script>"""


def need(tool: str | None, name: str, package: str):
    if tool is None:
        pytest.skip(f"{name} not installed (Debian package {package}; `make test` installs it when run as root)")


def _chromium(*args: str) -> subprocess.CompletedProcess:
    need(CHROMIUM, "headless Chromium", "chromium")
    profile = tempfile.mkdtemp(prefix="fiproxy-chromium-")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def inspect_html(html_path: Path) -> dict:
    """Load the page in headless Chromium; count images, broken images and tables."""
    check = html_path.with_name(".check-" + html_path.name)
    check.write_text(html_path.read_text(encoding="utf-8").replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    try:
        dom = _chromium("--dump-dom", check.as_uri()).stdout
    finally:
        check.unlink(missing_ok=True)
    m = re.search(r'<body[^>]*data-images="(\d+)"[^>]*data-broken="([^"]*)"[^>]*data-tables="(\d+)"', dom)
    assert m, "the page did not finish loading in headless Chromium"
    import html as _h
    import json

    return {"images": int(m.group(1)), "broken": json.loads(_h.unescape(m.group(2))), "tables": int(m.group(3))}


def screenshot(html_path: Path, png: Path) -> Path:
    _chromium(f"--screenshot={png}", "--window-size=1280,2400", html_path.as_uri())
    assert png.is_file() and png.stat().st_size > 10_000, "empty screenshot"
    return png


def pdf_pages(pdf: Path, out_dir: Path, dpi: int = 40) -> list[Path]:
    need(PDFTOPPM, "pdftoppm", "poppler-utils")
    subprocess.run([PDFTOPPM, "-png", "-r", str(dpi), str(pdf), str(out_dir / "page")], check=True, timeout=120)
    return sorted(out_dir.glob("page-*.png"))
