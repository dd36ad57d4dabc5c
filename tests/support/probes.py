"""Tiny hand-written components used to probe the wasmtime-py boundary.

They need no toolchain (WAT text, compiled in milliseconds), so tests and benchmarks can measure
exactly one thing: how values cross between host and guest.
"""

from __future__ import annotations

__all__ = ["BYTES_PROBE_WAT"]

# A bump allocator, and three exports over list<u8> (plus a list<u32> echo for comparison):
#   echo(b) -> b           both directions
#   sink(b) -> u32         host -> guest only; returns the length
#   make(n) -> list<u8>    guest -> host only; n bytes of the guest's memory from offset 1024
BYTES_PROBE_WAT = r"""
(component
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 1024))
    (func $grow (param $end i32)
      (local $have i32)
      (local.set $have (i32.mul (memory.size) (i32.const 65536)))
      (if (i32.gt_u (local.get $end) (local.get $have))
        (then (if (i32.lt_s (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end)
                    (local.get $have)) (i32.const 65535)) (i32.const 16))) (i32.const 0))
          (then unreachable)))))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
      (call $grow (i32.add (local.get $p) (local.get 3)))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    (func (export "echo") (param i32 i32) (result i32)
      (i32.store (i32.const 0) (local.get 0))
      (i32.store (i32.const 4) (local.get 1))
      (i32.const 0))
    (func (export "sink") (param i32 i32) (result i32)
      (local.get 1))
    (func (export "make") (param i32) (result i32)
      (call $grow (i32.add (i32.const 1024) (local.get 0)))
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (local.get 0))
      (i32.const 0))
  )
  (core instance $i (instantiate $m))
  (func (export "echo") (param "b" (list u8)) (result (list u8))
    (canon lift (core func $i "echo") (memory (core memory $i "mem"))
      (realloc (core func $i "realloc"))))
  (func (export "echo32") (param "b" (list u32)) (result (list u32))
    (canon lift (core func $i "echo") (memory (core memory $i "mem"))
      (realloc (core func $i "realloc"))))
  (func (export "sink") (param "b" (list u8)) (result u32)
    (canon lift (core func $i "sink") (memory (core memory $i "mem"))
      (realloc (core func $i "realloc"))))
  (func (export "make") (param "n" u32) (result (list u8))
    (canon lift (core func $i "make") (memory (core memory $i "mem"))
      (realloc (core func $i "realloc"))))
)
"""
