"""Check that built pages typeset their math with no network: headless Chromium opens each
page with every non-file request blocked and counts the formulas MathJax rendered.

    python book/check_offline_math.py book/_build/html/notebooks/02-spectrograms.html

Needs Playwright (`pip install playwright`) and a Chromium binary (Debian: `apt-get install
chromium`; `--browser PATH` for another); it never downloads a browser. Exit 1 unless every
formula (Sphinx's ``.math`` elements) of every page rendered; a page without math fails
too. Blocked requests are listed (the ipywidgets manager, for one, comes from a CDN and is
not needed for math).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def check(page, path: Path, timeout_ms: int) -> tuple[int, int, list[str]]:
    """(formulas, rendered formulas, blocked URLs) of one page."""
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri(), wait_until="load")
    try:
        page.wait_for_selector("mjx-container", timeout=timeout_ms)
    except Exception:  # playwright's TimeoutError: no math rendered in time
        pass
    page.unroute("**/*")
    return page.locator(".math").count(), page.locator(".math mjx-container").count(), blocked


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--browser", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=20, help="seconds per page")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        parser.error("needs Playwright: pip install playwright")
    for path in args.pages:
        if not path.is_file():
            parser.error(f"no such page: {path}")
    if not Path(args.browser).is_file():
        parser.error(f"no browser at {args.browser} (apt-get install chromium, or --browser)")

    failed = False
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.browser, args=FLAGS)
        page = browser.new_page()
        for path in args.pages:
            formulas, rendered, blocked = check(page, path, int(args.timeout * 1000))
            ok = rendered == formulas > 0
            failed |= not ok
            print(f"{'ok' if ok else 'FAIL'}: {path}: "
                  + (f"{rendered} of {formulas} formulas rendered" if formulas else
                     "no formulas on this page")
                  + (f"; blocked {len(blocked)} network requests: " + ", ".join(blocked)
                     if blocked else ""))
        browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
