"""Pure logic: no I/O, no trio sockets, no httpcore, no wasmtime.

Tested with tables and hypothesis.
"""
