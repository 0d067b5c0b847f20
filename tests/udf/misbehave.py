#!/usr/bin/env python3
"""A user-defined function that misbehaves on purpose, for weir's tests. The first argument
says how: 'ok' answers the number of points, 'crash' exits, 'hang' sleeps, 'garbage' writes
bytes that are not a frame, 'error' reports an error in the answer's metadata."""
import json
import struct
import sys
import time

import pyarrow as pa


def write_table(stream, table):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    buf = sink.getvalue().to_pybytes()
    stream.write(struct.pack("<I", len(buf)) + buf)
    stream.flush()


stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = stdin.read(4)
    if len(head) < 4:
        sys.exit(0)
    (n,) = struct.unpack("<I", head)
    table = pa.ipc.open_stream(stdin.read(n)).read_all()
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    how = json.loads(meta["weir.args"])[0]
    if how == "crash":
        print("misbehave: crashing as asked", file=sys.stderr, flush=True)
        sys.exit(3)
    if how == "hang":
        time.sleep(60)
    if how == "garbage":
        stdout.write(b"\xff\xff\xff\x7fnot a frame")
        stdout.flush()
        continue
    if how == "error":
        schema = pa.schema([("value", pa.float64())], metadata={"weir.error": "bad input"})
        write_table(stdout, pa.table({"value": pa.array([], pa.float64())}, schema=schema))
        continue
    write_table(stdout, pa.table({"value": pa.array([float(table.num_rows)]), "tags": pa.array([meta["weir.tags"]])}))
