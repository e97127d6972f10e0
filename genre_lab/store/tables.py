"""DataFrames as arrays: how ``cached_table`` turns a table into the arrays of an ``.npz``
entry (one per column, the index, a JSON member of names, dtypes and attrs) and back."""

from __future__ import annotations

import json
import warnings

import numpy as np

from .npz import _storable

#: The member of a table entry that holds column names, dtypes, index and attrs.
_TABLE_META = "__table__"


def _json_attrs(attrs: dict) -> dict:
    kept, dropped = {}, []
    for k, v in attrs.items():
        try:
            kept[str(k)] = json.loads(json.dumps(v))
        except (TypeError, ValueError):
            dropped.append(k)
    if dropped:
        warnings.warn(f"DataFrame.attrs {dropped} are not JSON-able: not cached", stacklevel=4)
    return kept


def _encode_table(df) -> dict[str, np.ndarray]:
    import pandas as pd

    names = list(df.columns)
    if not all(isinstance(c, str | int) and not isinstance(c, bool) for c in names):
        raise TypeError(f"cached tables need str or int column names, got {names!r}")
    if len(set(names)) != len(names):
        raise TypeError(f"cached tables need unique column names, got {names!r}")
    arrays, dtypes = {}, []
    for i, col in enumerate(names):
        series = df.iloc[:, i]
        dtypes.append(str(series.dtype))
        values = series.to_numpy(dtype=object) if isinstance(series.dtype, pd.StringDtype) \
            else series.to_numpy()
        arrays[f"c{i}"] = _storable(f"column {col}", values)
    meta = dict(columns=names, column_dtype=str(df.columns.dtype), dtypes=dtypes, rows=len(df),
                attrs=_json_attrs(df.attrs))
    index = df.index
    if isinstance(index, pd.RangeIndex):
        meta["range"] = [index.start, index.stop, index.step, index.name]
    elif isinstance(index, pd.MultiIndex):
        raise TypeError("cached tables cannot have a MultiIndex: reset_index() first")
    else:
        meta["index"] = [str(index.dtype), index.name]
        arrays["index"] = _storable("index", index.to_numpy(dtype=object)
                                    if isinstance(index.dtype, pd.StringDtype)
                                    else index.to_numpy())
    arrays[_TABLE_META] = np.array(json.dumps(meta))
    return arrays


def _restore(values: np.ndarray):
    # Strings were stored as unicode arrays: object (or pandas string) dtype comes back.
    return values.astype(object) if values.dtype.kind == "U" else values


def _decode_table(arrays: dict[str, np.ndarray]):
    import pandas as pd

    meta = json.loads(str(arrays[_TABLE_META][()]))
    columns, dtypes, rows = meta["columns"], meta["dtypes"], meta["rows"]
    if "range" in meta:
        start, stop, step, index_name = meta["range"]
        index = pd.RangeIndex(start, stop, step, name=index_name)
    else:
        index_dtype, index_name = meta["index"]
        index = pd.Index(_restore(arrays["index"]), name=index_name)
        index = index.astype(index_dtype)
    if len(index) != rows or len(columns) != len(dtypes):
        raise ValueError("table metadata does not match its arrays")
    data = {}
    for i, (col, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        values = arrays[f"c{i}"]
        if values.shape != (rows,):
            raise ValueError(f"column {col!r} has shape {values.shape}, expected ({rows},)")
        data[i] = pd.Series(_restore(values), index=index, copy=False).astype(dtype)
    df = pd.DataFrame(data, index=index)
    df.columns = pd.Index(columns, dtype=object).astype(meta["column_dtype"])
    df.attrs.update(meta["attrs"])
    return df
