#!/usr/bin/env python3
"""A weir user-defined function: the median absolute deviation of a window's values, scaled by
the threshold argument: mad(value, threshold) = threshold * median(|x - median(x)|).

weir starts this program once and sends one request per window and group. Every message,
both ways, is a 4-byte little-endian length and that many bytes of an Arrow IPC stream.
"""
import json
import struct
import sys

import pyarrow as pa


def read_frame(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    return stream.read(n)


def write_frame(stream, table):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    buf = sink.getvalue().to_pybytes()
    stream.write(struct.pack("<I", len(buf)))
    stream.write(buf)
    stream.flush()


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return
        table = pa.ipc.open_stream(frame).read_all()
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        args = json.loads(meta.get("weir.args", "[]"))
        threshold = float(args[0]) if args else 1.0
        values = [v for v in table.column("value").to_pylist() if v is not None]
        if not values:
            write_frame(stdout, pa.table({"value": pa.array([], pa.float64())}))
            continue
        m = median(values)
        mad = median([abs(v - m) for v in values])
        write_frame(stdout, pa.table({"value": pa.array([threshold * mad], pa.float64())}))


if __name__ == "__main__":
    main()
