"""Check that built pages work offline: headless Chromium opens each page with every request
that is not for a local file blocked, and reports what was blocked, the console's errors and
how many formulas MathJax rendered.

    python book/check_offline_math.py book/_build/html                  # every page
    python book/check_offline_math.py --math book/_build/html/notebooks/02-spectrograms.html

Needs Playwright (`pip install playwright`) and a Chromium binary (Debian: `apt-get install
chromium`; `--browser PATH` for another); it never downloads a browser. Exit 1 if a page made
a network request, logged a console error or an uncaught exception, or left a formula (Sphinx's
``.math`` elements) untypeset; with ``--math``, also if a page has no formula.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL = ("file:", "data:", "blob:", "about:")


def check(page, path: Path, timeout_ms: int) -> dict:
    """A page's formulas and rendered formulas, blocked URLs and console errors."""
    blocked: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    def console(message):
        if message.type == "error":
            errors.append(message.text)

    def uncaught(error):
        errors.append(f"uncaught: {error}")

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", uncaught)
    try:
        page.goto(path.resolve().as_uri(), wait_until="load")
        formulas = page.locator(".math").count()
        if formulas:
            try:
                page.wait_for_selector("mjx-container", timeout=timeout_ms)
            except Exception:  # playwright's TimeoutError: no math rendered in time
                pass
        page.wait_for_timeout(500)  # deferred and async scripts (thebe's, widgets') run
        rendered = page.locator(".math mjx-container").count()
    finally:
        page.remove_listener("console", console)
        page.remove_listener("pageerror", uncaught)
        page.unroute("**/*")
    return {"formulas": formulas, "rendered": rendered, "blocked": blocked, "errors": errors}


def pages_under(paths: list[Path]) -> list[Path]:
    """The HTML pages named, and those in the folders named (not their _static/_sources)."""
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.html")
                            if not {"_static", "_sources", "_images"} & set(p.parts))
        else:
            found.append(path)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path, help="pages, or folders of pages")
    parser.add_argument("--math", action="store_true", help="fail a page without formulas")
    parser.add_argument("--browser", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=20, help="seconds per page for math")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        parser.error("needs Playwright: pip install playwright")
    for path in args.pages:
        if not path.exists():
            parser.error(f"no such page or folder: {path}")
    pages = pages_under(args.pages)
    if not pages:
        parser.error("no pages")
    if not Path(args.browser).is_file():
        parser.error(f"no browser at {args.browser} (apt-get install chromium, or --browser)")

    failed, blocked, errors = 0, 0, 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.browser, args=FLAGS)
        page = browser.new_page()
        for path in pages:
            r = check(page, path, int(args.timeout * 1000))
            problems = []
            if r["rendered"] < r["formulas"]:
                problems.append(f"{r['formulas'] - r['rendered']} formulas not rendered")
            if args.math and not r["formulas"]:
                problems.append("no formulas on this page")
            if r["blocked"]:
                problems.append(f"blocked {len(r['blocked'])} network requests: "
                                + ", ".join(r["blocked"]))
            if r["errors"]:
                problems.append(f"{len(r['errors'])} console errors: "
                                + " | ".join(r["errors"]))
            failed += bool(problems)
            blocked += len(r["blocked"])
            errors += len(r["errors"])
            math = f"{r['rendered']} of {r['formulas']} formulas rendered" if r["formulas"] \
                else "no formulas"
            print(f"{'FAIL' if problems else 'ok'}: {path}: {math}"
                  + "".join(f"; {problem}" for problem in problems), flush=True)
        browser.close()
    print(f"{len(pages)} pages, {failed} failed: {blocked} network requests blocked, "
          f"{errors} console errors")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
