#!/usr/bin/env python3
"""Reads a weir archive tree with pyarrow, DuckDB and pandas and compares every value with
what the Rust test wrote.

usage: check_archive.py ROOT EXPECTED.json

EXPECTED: {"tables": [{"db", "rp", "measurement", "path_only": bool,
                        "types": {col: "float"|"int"|"uint"|"bool"|"str"|"tag"},
                        "rows": [{"time": ns, col: repr-or-null}]}]}
Floats are given as strings (Rust's shortest round-trip form, "NaN", "inf", "-inf") so the
comparison is bit-exact; ints as decimal strings.

Exit status: 0 all equal, 1 a mismatch (printed), 3 a Python module is missing.
"""
import glob
import json
import math
import os
import sys
import urllib.parse

try:
    import duckdb
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
except ImportError as e:  # the Rust test turns this into a failure with this message
    print(f"MISSING PYTHON MODULE: {e.name}: run `pip install pyarrow duckdb pandas`", file=sys.stderr)
    sys.exit(3)

failures = []


def fail(msg):
    failures.append(msg)
    print("MISMATCH:", msg, file=sys.stderr)


def find_dir(root, db, rp, m):
    base = os.path.join(root, db, rp)
    for name in os.listdir(base):
        if name == m or urllib.parse.unquote(name) == m:
            return os.path.join(base, name)
    raise SystemExit(f"no directory for measurement {m!r} under {base}: {os.listdir(base)}")


def expected_value(kind, v):
    if v is None:
        return None
    if kind == "float":
        return float(v)
    if kind in ("int", "uint"):
        return int(v)
    return v


def same(kind, want, got):
    if want is None:
        return got is None or (isinstance(got, float) and math.isnan(got) and kind != "float") or got is pd.NA
    if got is None or got is pd.NA:
        return False
    if kind == "float":
        if not isinstance(got, float):
            return False
        if math.isnan(want):
            return math.isnan(got)
        return want == got and math.copysign(1, want) == math.copysign(1, got)
    if kind in ("int", "uint"):
        return isinstance(got, int) and not isinstance(got, bool) and got == want
    if kind == "bool":
        return isinstance(got, bool) and got == want
    return isinstance(got, str) and got == want


def py(v):
    """numpy / pandas scalars to plain Python."""
    if v is None or v is pd.NA:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            pass
    return v


def compare(reader, table, rows):
    types = table["types"]
    want = sorted(table["rows"], key=lambda r: int(r["time"]))
    got = sorted(rows, key=lambda r: r["time"])
    if len(want) != len(got):
        fail(f"{reader} {table['measurement']}: {len(got)} rows, expected {len(want)}")
        return
    for w, g in zip(want, got):
        if int(w["time"]) != g["time"]:
            fail(f"{reader} {table['measurement']}: time {g['time']} expected {w['time']}")
            return
        for col, kind in types.items():
            ev = expected_value(kind, w.get(col))
            gv = py(g.get(col))
            if not same(kind, ev, gv):
                fail(f"{reader} {table['measurement']} time={w['time']} column {col!r}: got {gv!r} ({type(gv).__name__}), expected {ev!r}")


def ts_ns(v):
    if v is None:
        return None
    if hasattr(v, "value"):  # pandas.Timestamp
        return int(v.value)
    return int(v)


def check_table(root, table):
    d = find_dir(root, table["db"], table["rp"], table["measurement"])
    files = sorted(glob.glob(os.path.join(d, "**", "*.parquet"), recursive=True))
    cols = ["time"] + list(table["types"].keys())
    unified = pa.unify_schemas([pq.read_schema(f) for f in files])

    # pyarrow
    if table["path_only"]:
        t = pq.read_table(d)
    else:
        t = ds.dataset(d, format="parquet", partitioning="hive", schema=unified).to_table()
    tt = t.column("time").type
    if not (pa.types.is_timestamp(tt) and tt.unit == "ns" and tt.tz in ("UTC", "+00:00")):
        fail(f"pyarrow: time has type {tt}")
    t = t.select(cols)
    t = t.set_column(0, "time", t.column("time").cast(pa.int64()))
    compare("pyarrow", table, t.to_pylist())

    # pandas
    if table["path_only"]:
        df = pd.read_parquet(d)
    else:
        df = pd.read_parquet(d, schema=unified, dtype_backend="numpy_nullable")
    rows = []
    for rec in df[cols].to_dict("records"):
        rec["time"] = ts_ns(rec["time"])
        rows.append(rec)
    compare("pandas", table, rows)

    # DuckDB
    con = duckdb.connect()
    opts = "" if table["path_only"] else ", union_by_name=true"
    rel = f"read_parquet('{d}/**/*.parquet'{opts})"
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols[1:])
    q = f'SELECT epoch_ns("time") AS "time", {quoted} FROM {rel}'
    cur = con.execute(q)
    names = [c[0] for c in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    compare("duckdb", table, rows)
    print(f"ok: {table['measurement']!r}: {len(table['rows'])} rows x {len(cols)} columns equal in pyarrow, pandas, duckdb")


def main():
    root, expected = sys.argv[1], sys.argv[2]
    with open(expected) as f:
        exp = json.load(f)
    for table in exp["tables"]:
        check_table(root, table)
    if failures:
        print(f"{len(failures)} mismatches", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
