"""A WAT guest that moves bodies through the body lane (`read-into`, `write-from`) at
addresses it is told, so tests can aim the host at any range of its memory.

Results are numbers: a byte count or status on success, 1000 + error-code case index when
`start`/`upload` failed, 2000 + index when `read-into`/`write-from` failed, 3000 + index when
`finish` failed (:data:`tests.support.wat.ERROR_CASES`). Scratch: request at 0, return areas at
128 and 256; the bump allocator (for `finish`'s response) starts at 65536, so point lane
buffers elsewhere (``grow`` first) or below 65536.
"""

from __future__ import annotations

from astrid_host._core._wit_http import OUTPUT
from tests.support.wat import BUMP_MEMORY, CLIENT_INSTANCE_TYPE
from tests.support.wit_wat import instance_type

__all__ = ["LANE_GUEST_WAT", "OUTPUT_GUEST_WAT"]

LANE_GUEST_WAT = r"""
(component
""" + CLIENT_INSTANCE_TYPE + r"""
  (import "astrid:http/client@0.1.0" (instance $client (type $client-type)))
  (alias export $client "incoming-response" (type $incoming))
  (alias export $client "outgoing-body" (type $outgoing))

""" + BUMP_MEMORY + r"""
  (alias export $client "start" (func $start))
  (alias export $client "upload" (func $upload))
  (alias export $client "[method]incoming-response.read-into" (func $read-into))
  (alias export $client "[method]outgoing-body.write-from" (func $write-from))
  (alias export $client "[method]outgoing-body.finish" (func $finish))
  (alias export $client "[method]incoming-response.read-str" (func $read-str))
  (alias export $client "[method]outgoing-body.write-str" (func $write-str))
  (core func $start-l (canon lower (func $start) (memory $memory) (realloc $realloc)))
  (core func $upload-l (canon lower (func $upload) (memory $memory) (realloc $realloc)))
  (core func $read-into-l (canon lower (func $read-into) (memory $memory) (realloc $realloc)))
  (core func $write-from-l (canon lower (func $write-from) (memory $memory) (realloc $realloc)))
  (core func $finish-l (canon lower (func $finish) (memory $memory) (realloc $realloc)))
  (core func $read-str-l (canon lower (func $read-str) (memory $memory) (realloc $realloc)))
  (core func $write-str-l (canon lower (func $write-str) (memory $memory) (realloc $realloc)))
  (core func $drop-in (canon resource.drop $incoming))
  (core func $drop-out (canon resource.drop $outgoing))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "host" "start" (func $start (param i32 i32)))
    (import "host" "upload" (func $upload (param i32 i32)))
    (import "host" "read-into" (func $read-into (param i32 i32 i32 i32)))
    (import "host" "write-from" (func $write-from (param i32 i32 i32 i32)))
    (import "host" "finish" (func $finish (param i32 i32)))
    (import "host" "drop-in" (func $drop-in (param i32)))
    (import "host" "drop-out" (func $drop-out (param i32)))
    (import "host" "read-str" (func $read-str (param i32 i32 i32)))
    (import "host" "write-str" (func $write-str (param i32 i32 i32 i32)))
    (func $request (param $url i32) (param $len i32)
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 128))
      (i32.store (i32.const 12) (local.get $url))
      (i32.store (i32.const 16) (local.get $len)))
    (func (export "grow") (param $pages i32) (result i32) (memory.grow (local.get $pages)))
    ;; start; read-into at ptr + got, cap at a time, until the end (or just once); drop.
    (func $pull (param $url i32) (param $len i32) (param $ptr i32) (param $cap i32)
                (param $once i32) (result i32)
      (local $h i32) (local $got i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 128))
      (if (i32.load8_u (i32.const 128))
        (then (return (i32.add (i32.const 1000) (i32.load8_u (i32.const 136))))))
      (local.set $h (i32.load (i32.const 136)))
      (block $done
        (loop $more
          (call $read-into (local.get $h) (i32.add (local.get $ptr) (local.get $got))
                           (local.get $cap) (i32.const 256))
          (if (i32.load8_u (i32.const 256))
            (then (call $drop-in (local.get $h))
                  (return (i32.add (i32.const 2000) (i32.load8_u (i32.const 264))))))
          (br_if $done (i32.eqz (i32.load (i32.const 264))))
          (local.set $got (i32.add (local.get $got) (i32.load (i32.const 264))))
          (br_if $done (local.get $once))
          (br $more)))
      (call $drop-in (local.get $h))
      (local.get $got))
    (func (export "pull") (param i32 i32 i32 i32) (result i32)
      (call $pull (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 0)))
    (func (export "read-once") (param i32 i32 i32 i32) (result i32)
      (call $pull (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 1)))
    ;; start; one read-str(max); drop. The string's address (its length is left at 272),
    ;; 0 at the end of the body, or 1000/2000 + error case.
    (func (export "read-str-once") (param $url i32) (param $len i32) (param $max i32)
                                   (result i32)
      (local $h i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 128))
      (if (i32.load8_u (i32.const 128))
        (then (return (i32.add (i32.const 1000) (i32.load8_u (i32.const 136))))))
      (local.set $h (i32.load (i32.const 136)))
      (call $read-str (local.get $h) (local.get $max) (i32.const 256))
      (call $drop-in (local.get $h))
      (if (i32.load8_u (i32.const 256))
        (then (return (i32.add (i32.const 2000) (i32.load8_u (i32.const 264))))))
      (if (result i32) (i32.load8_u (i32.const 264))
        (then (i32.load (i32.const 268)))
        (else (i32.const 0))))
    ;; upload; write-from(ptr, n), or write-str(ptr, n) when $str; finish; drop: the status,
    ;; or 1000 / 2000 / 3000 + the error case of upload / the write / finish.
    (func $push (param $url i32) (param $len i32) (param $ptr i32) (param $n i32) (param $str i32)
                (result i32)
      (local $h i32)
      (call $request (local.get $url) (local.get $len))
      (call $upload (i32.const 0) (i32.const 128))
      (if (i32.load8_u (i32.const 128))
        (then (return (i32.add (i32.const 1000) (i32.load8_u (i32.const 136))))))
      (local.set $h (i32.load (i32.const 136)))
      (if (local.get $str)
        (then (call $write-str (local.get $h) (local.get $ptr) (local.get $n) (i32.const 256)))
        (else (call $write-from (local.get $h) (local.get $ptr) (local.get $n) (i32.const 256))))
      (if (i32.load8_u (i32.const 256))
        (then (call $drop-out (local.get $h))
              (return (i32.add (i32.const 2000) (i32.load8_u (i32.const 264))))))
      (call $finish (local.get $h) (i32.const 128))
      (call $drop-out (local.get $h))
      (if (result i32) (i32.load8_u (i32.const 128))
        (then (i32.add (i32.const 3000) (i32.load8_u (i32.const 136))))
        (else (i32.load16_u (i32.const 136)))))
    (func (export "push-str") (param $url i32) (param $len i32) (param $s i32) (param $n i32)
                              (result i32)
      (call $push (local.get $url) (local.get $len) (local.get $s) (local.get $n) (i32.const 1)))
    (func (export "push") (param $url i32) (param $len i32) (param $ptr i32) (param $n i32)
                          (result i32)
      (call $push (local.get $url) (local.get $len) (local.get $ptr) (local.get $n) (i32.const 0)))
  )
  (core instance $main (instantiate $Main
    (with "env" (instance (export "memory" (memory $memory))))
    (with "host" (instance
      (export "start" (func $start-l))
      (export "upload" (func $upload-l))
      (export "read-into" (func $read-into-l))
      (export "write-from" (func $write-from-l))
      (export "finish" (func $finish-l))
      (export "drop-in" (func $drop-in))
      (export "drop-out" (func $drop-out))
      (export "read-str" (func $read-str-l))
      (export "write-str" (func $write-str-l))))))

  (func (export "grow") (param "pages" u32) (result s32)
    (canon lift (core func $main "grow")))
  (func (export "pull") (param "url" string) (param "ptr" u32) (param "cap" u32) (result u32)
    (canon lift (core func $main "pull") (memory $memory) (realloc $realloc)))
  (func (export "read-once") (param "url" string) (param "ptr" u32) (param "cap" u32)
    (result u32)
    (canon lift (core func $main "read-once") (memory $memory) (realloc $realloc)))
  (func (export "read-str-once") (param "url" string) (param "max" u32) (result u32)
    (canon lift (core func $main "read-str-once") (memory $memory) (realloc $realloc)))
  (func (export "push-str") (param "url" string) (param "s" string) (result u32)
    (canon lift (core func $main "push-str") (memory $memory) (realloc $realloc)))
  (func (export "push") (param "url" string) (param "ptr" u32) (param "len" u32) (result u32)
    (canon lift (core func $main "push") (memory $memory) (realloc $realloc)))
)
"""

#: A WAT guest that writes the call's output (`astrid:http/output`) as it is told. Results
#: are numbers: 0 when the write was accepted, 2000 + error-code case index when it failed.
#: ``size`` is the memory's size in bytes; ``fill(ptr, len, byte)`` sets bytes to write from;
#: ``from-then-trap`` writes, then traps; ``from-then-spin`` writes, then loops forever.
#: Strings and lists land at 65536 and up (the bump allocator grows memory for them).
OUTPUT_GUEST_WAT = r"""
(component
  (type $output-type """ + instance_type(OUTPUT) + r""")
  (import "astrid:http/output@0.1.0" (instance $output (type $output-type)))

""" + BUMP_MEMORY + r"""
  (alias export $output "write" (func $write))
  (alias export $output "write-from" (func $write-from))
  (alias export $output "write-str" (func $write-str))
  (core func $write-l (canon lower (func $write) (memory $memory) (realloc $realloc)))
  (core func $write-from-l (canon lower (func $write-from) (memory $memory) (realloc $realloc)))
  (core func $write-str-l (canon lower (func $write-str) (memory $memory) (realloc $realloc)))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "host" "write" (func $write (param i32 i32 i32)))
    (import "host" "write-from" (func $write-from (param i32 i32 i32)))
    (import "host" "write-str" (func $write-str (param i32 i32 i32)))
    (func $answer (result i32)
      (if (result i32) (i32.load8_u (i32.const 256))
        (then (i32.add (i32.const 2000) (i32.load8_u (i32.const 264))))
        (else (i32.const 0))))
    (func (export "size") (result i32) (i32.mul (memory.size) (i32.const 65536)))
    (func (export "fill") (param i32 i32 i32)
      (memory.fill (local.get 0) (local.get 2) (local.get 1)))
    (func (export "from") (param i32 i32) (result i32)
      (call $write-from (local.get 0) (local.get 1) (i32.const 256))
      (call $answer))
    (func (export "from-then-trap") (param i32 i32)
      (call $write-from (local.get 0) (local.get 1) (i32.const 256))
      unreachable)
    (func (export "from-then-spin") (param i32 i32)
      (call $write-from (local.get 0) (local.get 1) (i32.const 256))
      (loop $l (br $l)))
    (func (export "str") (param i32 i32) (result i32)
      (call $write-str (local.get 0) (local.get 1) (i32.const 256))
      (call $answer))
    (func (export "bytes") (param i32 i32) (result i32)
      (call $write (local.get 0) (local.get 1) (i32.const 256))
      (call $answer))
  )
  (core instance $main (instantiate $Main
    (with "env" (instance (export "memory" (memory $memory))))
    (with "host" (instance
      (export "write" (func $write-l))
      (export "write-from" (func $write-from-l))
      (export "write-str" (func $write-str-l))))))

  (func (export "size") (result u32) (canon lift (core func $main "size")))
  (func (export "fill") (param "ptr" u32) (param "len" u32) (param "byte" u8)
    (canon lift (core func $main "fill")))
  (func (export "from") (param "ptr" u32) (param "len" u32) (result u32)
    (canon lift (core func $main "from")))
  (func (export "from-then-trap") (param "ptr" u32) (param "len" u32)
    (canon lift (core func $main "from-then-trap")))
  (func (export "from-then-spin") (param "ptr" u32) (param "len" u32)
    (canon lift (core func $main "from-then-spin")))
  (func (export "str") (param "s" string) (result u32)
    (canon lift (core func $main "str") (memory $memory) (realloc $realloc)))
  (func (export "bytes") (param "b" (list u8)) (result u32)
    (canon lift (core func $main "bytes") (memory $memory) (realloc $realloc)))
)
"""
