#!/usr/bin/env python3
"""A user-defined function that crashes on every call, for weir's tests."""
import sys

sys.stdin.buffer.read(4)
print("crash_on_call: crashing on purpose", file=sys.stderr, flush=True)
sys.exit(1)
