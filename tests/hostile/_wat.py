"""A hostile guest written by hand in component WAT: no toolchain, compiles in milliseconds.

``HOSTILE_GUEST_WAT`` imports the real ``astrid:http/client@0.1.0`` (the exact WIT types,
shared with tests/support/wat.py) and exports one function per misbehaviour. Results that are
not WIT values are numbers: a status or byte count on success, ``1000 + case`` when
``send``/``start``/``upload`` failed, ``2000 + case`` when ``read``/``write`` failed
(``case`` = the error-code case index, :data:`tests.support.wat.ERROR_CASES`).

Canonical-ABI layout used below (wit/types.wit): ``request`` is 136 bytes, align 8 (method at
0, url at 12, headers at 20, body at 28, options at 40); a header tuple is 16 bytes (name
ptr/len, value ptr/len); ``result<T, error-code>`` has its tag at +0 and payload at +8; the
error-code's own tag is at +8.

Scratch memory: request at 0, import return area at 256, read/write return area at 512,
export return area at 1024, kept incoming handles at 4096 (up to 1024), kept upload handles at
8192 (up to 1024); the bump allocator starts at 65536. ``set-realloc-mode(mode, min)`` arms a
hostile allocator for requests of at least ``min`` bytes (1 spin, 2 trap, 3 out of bounds): the
host calls it while lowering a result into the guest.
"""

from __future__ import annotations

from tests.support.wat import BUMP_ALLOC_BODY, CLIENT_INSTANCE_TYPE

__all__ = ["HOSTILE_GUEST_WAT", "pack_open_many"]


def pack_open_many(result: int) -> tuple[int, str | None]:
    """Decode ``open-many``: (streams opened, last error case or None)."""
    from tests.support.wat import ERROR_CASES
    opened, err = result & 0xFFFF, result >> 16
    return opened, (ERROR_CASES[err - 1] if err else None)


HOSTILE_GUEST_WAT = r"""
(component
""" + CLIENT_INSTANCE_TYPE + r"""
  (import "astrid:http/client@0.1.0" (instance $client (type $client-type)))
  (alias export $client "incoming-response" (type $incoming))
  (alias export $client "outgoing-body" (type $outgoing))
  (alias export $client "request" (type $request))
  (alias export $client "response" (type $response))
  (alias export $client "error-code" (type $error))

  (core module $Mem
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 65536))
    ;; A hostile allocator, armed by `set-realloc-mode`: for requests of at least $min bytes
    ;; mode 1 spins forever, 2 traps, 3 answers an address far out of bounds.
    (global $mode (mut i32) (i32.const 0))
    (global $min (mut i32) (i32.const 0))
    (func (export "set-mode") (param i32 i32)
      (global.set $mode (local.get 0))
      (global.set $min (local.get 1)))
    ;; A bump allocator. When memory cannot grow it returns an address past the end, which
    ;; wasmtime must refuse (a guest whose allocator lies).
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (if (i32.and (i32.ne (global.get $mode) (i32.const 0))
                   (i32.ge_u (local.get 3) (global.get $min)))
        (then
          (if (i32.eq (global.get $mode) (i32.const 1)) (then (loop $forever (br $forever))))
          (if (i32.eq (global.get $mode) (i32.const 2)) (then unreachable))
          (return (i32.const 0xFFFFFF00))))
""" + BUMP_ALLOC_BODY + r"""  )
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))
  (alias core export $mem "set-mode" (core func $set-mode))

  (alias export $client "send" (func $send))
  (alias export $client "start" (func $start))
  (alias export $client "upload" (func $upload))
  (alias export $client "[method]incoming-response.read" (func $read))
  (alias export $client "[method]outgoing-body.write" (func $write))
  (core func $send-l (canon lower (func $send) (memory $memory) (realloc $realloc)))
  (core func $start-l (canon lower (func $start) (memory $memory) (realloc $realloc)))
  (core func $upload-l (canon lower (func $upload) (memory $memory) (realloc $realloc)))
  (core func $read-l (canon lower (func $read) (memory $memory) (realloc $realloc)))
  (core func $write-l (canon lower (func $write) (memory $memory) (realloc $realloc)))
  (core func $drop-in (canon resource.drop $incoming))
  (core func $drop-out (canon resource.drop $outgoing))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "env" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
    (import "host" "send" (func $send (param i32 i32)))
    (import "host" "start" (func $start (param i32 i32)))
    (import "host" "upload" (func $upload (param i32 i32)))
    (import "host" "read" (func $read (param i32 i32 i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "drop-in" (func $drop-in (param i32)))
    (import "host" "drop-out" (func $drop-out (param i32)))
    (global $kept-in (mut i32) (i32.const 0))
    (global $kept-out (mut i32) (i32.const 0))

    (func $request (param $url i32) (param $len i32)
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 256))
      (i32.store (i32.const 12) (local.get $url))
      (i32.store (i32.const 16) (local.get $len)))
    (func $failed (param $base i32) (result i32)
      (i32.add (local.get $base) (i32.load8_u (i32.const 264))))
    (func $keep-in (param $h i32)
      (i32.store (i32.add (i32.const 4096) (i32.shl (global.get $kept-in) (i32.const 2)))
                 (local.get $h))
      (global.set $kept-in (i32.and (i32.add (global.get $kept-in) (i32.const 1))
                                    (i32.const 1023))))
    (func $keep-out (param $h i32)
      (i32.store (i32.add (i32.const 8192) (i32.shl (global.get $kept-out) (i32.const 2)))
                 (local.get $h))
      (global.set $kept-out (i32.and (i32.add (global.get $kept-out) (i32.const 1))
                                     (i32.const 1023))))

    ;; -- runaway code
    (func (export "spin") (loop $l (br $l)))
    ;; Grow memory by `step` pages until refused; the size reached (pages) when refused.
    (func (export "bomb") (param $step i32) (result i32)
      (block $refused
        (loop $more
          (br_if $refused (i32.eq (memory.grow (local.get $step)) (i32.const -1)))
          ;; touch the new top page so it is really committed
          (i32.store (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4))
                     (i32.const 0xdead))
          (br $more)))
      (memory.size))
    ;; The same, then abort like a real allocator does when it runs out.
    (func (export "bomb-abort") (param $step i32)
      (loop $more
        (br_if $more (i32.ne (memory.grow (local.get $step)) (i32.const -1))))
      unreachable)

    ;; -- plain calls
    (func (export "send-url") (param $url i32) (param $len i32) (result i32)
      (call $request (local.get $url) (local.get $len))
      (call $send (i32.const 0) (i32.const 256))
      (if (result i32) (i32.load8_u (i32.const 256))
        (then (call $failed (i32.const 1000)))
        (else (i32.load16_u (i32.const 264)))))
    ;; A URL of `total` bytes: `prefix` then 'a' repeated (built inside the guest).
    (func (export "send-long-url") (param $pre i32) (param $plen i32) (param $total i32)
        (result i32)
      (local $p i32)
      (local.set $p (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $total)))
      (memory.fill (local.get $p) (i32.const 97) (local.get $total))
      (memory.copy (local.get $p) (local.get $pre) (local.get $plen))
      (call $request (local.get $p) (local.get $total))
      (call $send (i32.const 0) (i32.const 256))
      (if (result i32) (i32.load8_u (i32.const 256))
        (then (call $failed (i32.const 1000)))
        (else (i32.load16_u (i32.const 264)))))
    ;; `count` headers, each the same (name, value) bytes (names may be invalid UTF-8).
    (func (export "send-headers") (param $url i32) (param $ulen i32)
        (param $name i32) (param $nlen i32) (param $val i32) (param $vlen i32)
        (param $count i32) (result i32)
      (local $list i32) (local $i i32) (local $e i32)
      (local.set $list (call $realloc (i32.const 0) (i32.const 0) (i32.const 4)
                              (i32.mul (local.get $count) (i32.const 16))))
      (block $done
        (loop $more
          (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
          (local.set $e (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 4))))
          (i32.store (local.get $e) (local.get $name))
          (i32.store offset=4 (local.get $e) (local.get $nlen))
          (i32.store offset=8 (local.get $e) (local.get $val))
          (i32.store offset=12 (local.get $e) (local.get $vlen))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
      (call $request (local.get $url) (local.get $ulen))
      (i32.store (i32.const 20) (local.get $list))
      (i32.store (i32.const 24) (local.get $count))
      (call $send (i32.const 0) (i32.const 256))
      (if (result i32) (i32.load8_u (i32.const 256))
        (then (call $failed (i32.const 1000)))
        (else (i32.load16_u (i32.const 264)))))

    ;; -- forwarding (the fuzz harness): the request arrives lifted by the host, in memory
    (func (export "fetch") (param $req i32) (result i32)
      (call $send (local.get $req) (i32.const 1024))
      (i32.const 1024))
    ;; start(req), read pieces of `max` to the end, drop: bytes read, or 1000/2000 + case.
    (func (export "stream") (param $args i32) (result i32)
      (local $h i32) (local $total i32)
      (call $start (local.get $args) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then (return (call $failed (i32.const 1000)))))
      (local.set $h (i32.load (i32.const 264)))
      (block $done
        (loop $more
          (call $read (local.get $h) (i32.load offset=136 (local.get $args)) (i32.const 512))
          (if (i32.load8_u (i32.const 512))
            (then (call $drop-in (local.get $h))
                  (return (i32.add (i32.const 2000) (i32.load8_u (i32.const 520))))))
          (br_if $done (i32.eqz (i32.load8_u (i32.const 520))))
          (local.set $total (i32.add (local.get $total) (i32.load (i32.const 528))))
          (br $more)))
      (call $drop-in (local.get $h))
      (local.get $total))

    ;; -- handles
    ;; start(url) `n` times, keeping every handle (never dropped): opened | (last case+1)<<16.
    (func (export "open-many") (param $url i32) (param $len i32) (param $n i32) (result i32)
      (local $i i32) (local $ok i32) (local $err i32)
      (block $done
        (loop $more
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (call $request (local.get $url) (local.get $len))
          (call $start (i32.const 0) (i32.const 256))
          (if (i32.load8_u (i32.const 256))
            (then (local.set $err (i32.add (i32.load8_u (i32.const 264)) (i32.const 1))))
            (else (call $keep-in (i32.load (i32.const 264)))
                  (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
      (i32.or (local.get $ok) (i32.shl (local.get $err) (i32.const 16))))
    ;; Drop every kept handle; how many were dropped.
    (func (export "drop-all") (result i32)
      (local $i i32) (local $n i32)
      (block $done
        (loop $more
          (br_if $done (i32.ge_u (local.get $i) (global.get $kept-in)))
          (call $drop-in (i32.load (i32.add (i32.const 4096) (i32.shl (local.get $i)
                                                                      (i32.const 2)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
      (local.set $n (local.get $i))
      (global.set $kept-in (i32.const 0))
      (local.set $i (i32.const 0))
      (block $done
        (loop $more
          (br_if $done (i32.ge_u (local.get $i) (global.get $kept-out)))
          (call $drop-out (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $i)
                                                                       (i32.const 2)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
      (global.set $kept-out (i32.const 0))
      (i32.add (local.get $n) (local.get $i)))
    ;; upload(url) then write `pieces` pieces of `size` bytes and keep the handle unfinished:
    ;; pieces written, or 1000/2000 + case.
    (func (export "upload-unfinished") (param $url i32) (param $len i32) (param $pieces i32)
        (param $size i32) (result i32)
      (local $h i32) (local $i i32) (local $buf i32)
      (call $request (local.get $url) (local.get $len))
      (i32.store8 (i32.const 0) (i32.const 2))  ;; method = post
      (call $upload (i32.const 0) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then (return (call $failed (i32.const 1000)))))
      (local.set $h (i32.load (i32.const 264)))
      (call $keep-out (local.get $h))
      (local.set $buf (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $size)))
      (block $done
        (loop $more
          (br_if $done (i32.ge_u (local.get $i) (local.get $pieces)))
          (call $write (local.get $h) (local.get $buf) (local.get $size) (i32.const 512))
          (if (i32.load8_u (i32.const 512))
            (then (return (i32.add (i32.const 2000) (i32.load8_u (i32.const 520))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
      (local.get $i))
    ;; start, read one piece of `max`, drop the handle mid-body: bytes read, or 1000/2000+case.
    (func (export "drop-mid-read") (param $url i32) (param $len i32) (param $max i32)
        (result i32)
      (local $h i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then (return (call $failed (i32.const 1000)))))
      (local.set $h (i32.load (i32.const 264)))
      (call $read (local.get $h) (local.get $max) (i32.const 512))
      (call $drop-in (local.get $h))
      (if (result i32) (i32.load8_u (i32.const 512))
        (then (i32.add (i32.const 2000) (i32.load8_u (i32.const 520))))
        (else (i32.load (i32.const 528)))))
    ;; start, drop, then read through the stale handle: the canonical ABI must trap.
    (func (export "read-after-drop") (param $url i32) (param $len i32) (result i32)
      (local $h i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then (return (call $failed (i32.const 1000)))))
      (local.set $h (i32.load (i32.const 264)))
      (call $drop-in (local.get $h))
      (call $read (local.get $h) (i32.const 16) (i32.const 512))
      (i32.const 0))
    ;; Read to the end (or the first error), then read `extra` more times. The outcome of the
    ;; last read: 0 = none, 1 = data, 2000 + case = error. The first terminal outcome is kept
    ;; in memory at 600 (0 = none, 2000 + case).
    (func (export "read-past-end") (param $url i32) (param $len i32) (param $extra i32)
        (result i32)
      (local $h i32) (local $i i32) (local $out i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 256))
      (if (i32.load8_u (i32.const 256))
        (then (return (call $failed (i32.const 1000)))))
      (local.set $h (i32.load (i32.const 264)))
      (block $done
        (loop $more
          (call $read (local.get $h) (i32.const 65536) (i32.const 512))
          (if (i32.load8_u (i32.const 512))
            (then (i32.store (i32.const 600) (i32.add (i32.const 2000)
                                                      (i32.load8_u (i32.const 520))))
                  (br $done)))
          (i32.store (i32.const 600) (i32.const 0))
          (br_if $done (i32.eqz (i32.load8_u (i32.const 520))))
          (br $more)))
      (block $done
        (loop $more
          (br_if $done (i32.ge_u (local.get $i) (local.get $extra)))
          (call $read (local.get $h) (i32.const 16) (i32.const 512))
          (local.set $out
            (if (result i32) (i32.load8_u (i32.const 512))
              (then (i32.add (i32.const 2000) (i32.load8_u (i32.const 520))))
              (else (i32.load8_u (i32.const 520)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $more)))
      (call $drop-in (local.get $h))
      (local.get $out))
    (func (export "first-terminal") (result i32) (i32.load (i32.const 600)))
  )
  (core instance $main (instantiate $Main
    (with "env" (instance (export "memory" (memory $memory)) (export "realloc" (func $realloc))))
    (with "host" (instance
      (export "send" (func $send-l))
      (export "start" (func $start-l))
      (export "upload" (func $upload-l))
      (export "read" (func $read-l))
      (export "write" (func $write-l))
      (export "drop-in" (func $drop-in))
      (export "drop-out" (func $drop-out))))))

  (type $bytes (list u8))
  (type $fetch-result (result $response (error $error)))
  (func (export "spin") (canon lift (core func $main "spin")))
  (func (export "bomb") (param "step" u32) (result u32) (canon lift (core func $main "bomb")))
  (func (export "bomb-abort") (param "step" u32) (canon lift (core func $main "bomb-abort")))
  (func (export "send-url") (param "url" string) (result u32)
    (canon lift (core func $main "send-url") (memory $memory) (realloc $realloc)))
  (func (export "send-url-bytes") (param "url" $bytes) (result u32)
    (canon lift (core func $main "send-url") (memory $memory) (realloc $realloc)))
  (func (export "send-long-url") (param "prefix" string) (param "total" u32) (result u32)
    (canon lift (core func $main "send-long-url") (memory $memory) (realloc $realloc)))
  (func (export "send-headers") (param "url" string) (param "name" $bytes)
      (param "value" $bytes) (param "count" u32) (result u32)
    (canon lift (core func $main "send-headers") (memory $memory) (realloc $realloc)))
  (func (export "fetch") (param "req" $request) (result $fetch-result)
    (canon lift (core func $main "fetch") (memory $memory) (realloc $realloc)))
  (func (export "stream") (param "req" $request) (param "max" u32) (result u32)
    (canon lift (core func $main "stream") (memory $memory) (realloc $realloc)))
  (func (export "open-many") (param "url" string) (param "n" u32) (result u32)
    (canon lift (core func $main "open-many") (memory $memory) (realloc $realloc)))
  (func (export "drop-all") (result u32) (canon lift (core func $main "drop-all")))
  (func (export "upload-unfinished") (param "url" string) (param "pieces" u32)
      (param "size" u32) (result u32)
    (canon lift (core func $main "upload-unfinished") (memory $memory) (realloc $realloc)))
  (func (export "drop-mid-read") (param "url" string) (param "max" u32) (result u32)
    (canon lift (core func $main "drop-mid-read") (memory $memory) (realloc $realloc)))
  (func (export "read-after-drop") (param "url" string) (result u32)
    (canon lift (core func $main "read-after-drop") (memory $memory) (realloc $realloc)))
  (func (export "read-past-end") (param "url" string) (param "extra" u32) (result u32)
    (canon lift (core func $main "read-past-end") (memory $memory) (realloc $realloc)))
  (func (export "first-terminal") (result u32) (canon lift (core func $main "first-terminal")))
  (func (export "set-realloc-mode") (param "mode" u32) (param "min-size" u32)
    (canon lift (core func $set-mode)))
)
"""
