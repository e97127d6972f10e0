"""Sphinx extension: name the cell that failed in each chapter, and retry failed chapters.

The book builds with ``nb_execution_raise_on_error: false``, so a chapter whose cell fails
is logged by myst-nb as one warning and every other page is still written. At the end of
the build this extension writes one line per failed chapter to ``reports/failures.txt`` in
the HTML folder (``book/build.py`` prints them last), e.g.

    book: notebooks/07-compression.md, code cell 12 (line 230) failed: AssertionError: ...

A failed chapter is read (so executed) again on the next build even if its source did not
change: the fix may be in the package, and a stale page must not pass as a built one.
"""

from __future__ import annotations

import json
from pathlib import Path

FAILURES = Path("reports", "failures.txt")


def _exec_data(env) -> dict:
    from myst_nb.sphinx_ import NbMetadataCollector

    return {doc: data for doc in sorted(env.all_docs)
            if (data := NbMetadataCollector.get_exec_data(env, doc))}


def _error_line(data: dict, cell: dict | None) -> str:
    """'Type: message': the cell's error output, or nbclient's for a timeout."""
    error = data.get("error") or "error"
    if error == "CellExecutionError":
        for output in (cell or {}).get("outputs", []):
            if output.get("output_type") == "error":
                message = (output.get("evalue") or "").strip().splitlines()
                return f"{output['ename']}: {message[0]}" if message else output["ename"]
    # a timeout: the kernel was interrupted, so the cell shows a KeyboardInterrupt
    for line in (data.get("traceback") or "").splitlines():
        if line.startswith(f"nbclient.exceptions.{error}: "):
            return f"{error}: {line.split(': ', 1)[1].strip()}"
    return error


def describe(source: str, data: dict, notebook: dict | None, source_map=None) -> str:
    """The one line that names the chapter, the cell and the error."""
    cells = (notebook or {}).get("cells", [])
    # nbclient runs cells in order and stops at the failing one: the last cell it started
    started = [i for i, c in enumerate(cells)
               if c["cell_type"] == "code" and c.get("execution_count") is not None]
    if not started:
        return f"book: {source} failed: {_error_line(data, None)}"
    index = started[-1]
    cell = cells[index]
    number = sum(c["cell_type"] == "code" for c in cells[:index + 1])
    where = f"code cell {number}"
    if source_map and index < len(source_map):
        where += f" (line {source_map[index] + 1})"
    error = _error_line(data, cell)
    if ": " not in error:  # no message: show the cell's first line instead
        first = next((ln for ln in _text(cell["source"]).splitlines() if ln.strip()), "")
        error += f" in `{first.strip()[:80]}`"
    return f"book: {source}, {where} failed: {error[:300]}"


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def retry_failed(app, env, added, changed, removed):
    return [doc for doc, data in _exec_data(env).items()
            if not data.get("succeeded") and doc not in removed]


def write_failures(app, exception):
    if app.builder.format != "html":
        return
    env, outdir = app.env, Path(app.outdir)
    executed = outdir.parent / "jupyter_execute"  # where myst-nb writes executed notebooks
    lines = []
    for doc, data in _exec_data(env).items():
        report = outdir.joinpath("reports", *(doc + ".err.log").split("/"))
        if data.get("succeeded"):
            report.unlink(missing_ok=True)  # a report left from an earlier, failed build
            continue
        path = executed.joinpath(*(doc + ".ipynb").split("/"))
        notebook = json.loads(path.read_text(encoding="utf8")) if path.exists() else None
        source = Path(env.doc2path(doc, False)).as_posix()
        lines.append(describe(source, data, notebook,
                              env.metadata.get(doc, {}).get("source_map")))
    out = outdir / FAILURES
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line + "\n" for line in lines), encoding="utf8")


def setup(app):
    app.connect("env-get-outdated", retry_failed)
    app.connect("build-finished", write_failures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
