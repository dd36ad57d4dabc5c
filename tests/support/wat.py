"""Fake guests: components written by hand in WAT, so the runtime tests need no guest toolchain.

`CLIENT_GUEST_WAT` imports the real `astrid:http/client@0.1.0` with the exact WIT types (rendered
from the generated host model) and
drives it from hand-written core wasm (canonical ABI by hand: a zeroed request record is a
``GET`` with no headers, body or options, so only the URL has to be written).
`CLIENT_INSTANCE_TYPE` (those exact types), `BUMP_ALLOC_BODY` (an allocator) and `BUMP_MEMORY`
(a memory with it) are shared with the other WAT guests (tests/hostile/_wat.py,
tests/support/lane_wat.py). Probes of the value boundary are in
:mod:`tests.support.probes`.
"""

from __future__ import annotations

from astrid_host._core._wit_http import CLIENT, ERROR_CODE_TY
from tests.support.wit_wat import instance_type

#: A component with no imports: arithmetic, an endless loop, a trap, memory growth and a
#: counter that lives in the instance (to see when a fresh Store was made).
PLAIN_GUEST_WAT = r"""
(component
  (core module $m
    (memory (export "memory") 1)
    (global $count (mut i32) (i32.const 0))
    (func (export "add") (param i32 i32) (result i32)
      (i32.add (local.get 0) (local.get 1)))
    (func (export "spin")
      (loop $l (br $l)))
    (func (export "boom")
      unreachable)
    (func (export "grow") (param i32) (result i32)
      (memory.grow (local.get 0)))
    (func (export "bump") (result i32)
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (global.get $count))
    (func (export "work") (param i32) (result i32)
      (local $i i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get 0))))
      (local.get $i))
  )
  (core instance $i (instantiate $m))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32)
    (canon lift (core func $i "add")))
  (func (export "spin") (canon lift (core func $i "spin")))
  (func (export "boom") (canon lift (core func $i "boom")))
  (func (export "grow") (param "pages" u32) (result s32)
    (canon lift (core func $i "grow")))
  (func (export "bump") (result u32) (canon lift (core func $i "bump")))
  (func (export "work") (param "n" u32) (result u32) (canon lift (core func $i "work")))
)
"""

#: A component importing an interface the host does not provide.
MISSING_IMPORT_WAT = r"""
(component
  (import "example:nothing/here@1.0.0" (instance $x
    (export "f" (func (result u32)))))
)
"""

#: The body of a `realloc(old, old_size, align, size)` bump allocator over a global `$next`
#: and a local `$p` (declared by the caller), growing memory as needed. When memory cannot
#: grow it returns an address past the end, which wasmtime must refuse.
BUMP_ALLOC_BODY = r"""
      (local.set $p (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $p) (local.get 3)))
      (block $fits
        (br_if $fits (i32.le_u (global.get $next)
                               (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $next)
                                       (i32.mul (memory.size) (i32.const 65536)))
                                     (i32.const 16)) (i32.const 1)))))
      (local.get $p))
"""

#: A core module `$Mem` with a one-page memory and the bump allocator, instantiated and aliased
#: as the core memory `$memory` and the core function `$realloc` (the allocator starts at
#: 65536, so strings and lists the host lowers land there and up).
BUMP_MEMORY = r"""  (core module $Mem
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 65536))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
""" + BUMP_ALLOC_BODY + r"""  )
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))
"""

#: The client interface with the exact types of wit/types.wit and wit/client.wit, rendered
#: from the generated host model, as a component instance type named `$client-type`.
CLIENT_INSTANCE_TYPE = "  (type $client-type " + instance_type(CLIENT) + ")\n"

#: A guest that calls the client. Results are numbers: a status or byte count on success,
#: 1000 + error-code case index when `send`/`start` failed, 2000 + index when `read` failed.
#: Case indices follow wit/types.wit: closed = 15, cancelled = 16, internal = 17.
CLIENT_GUEST_WAT = r"""
(component
""" + CLIENT_INSTANCE_TYPE + r"""
  (import "astrid:http/client@0.1.0" (instance $client (type $client-type)))
  (alias export $client "incoming-response" (type $incoming))

""" + BUMP_MEMORY + r"""
  (alias export $client "send" (func $send))
  (alias export $client "start" (func $start))
  (alias export $client "[method]incoming-response.read" (func $read))
  (alias export $client "[method]incoming-response.status" (func $status))
  (core func $send-l (canon lower (func $send) (memory $memory) (realloc $realloc)))
  (core func $start-l (canon lower (func $start) (memory $memory) (realloc $realloc)))
  (core func $read-l (canon lower (func $read) (memory $memory) (realloc $realloc)))
  (core func $status-l (canon lower (func $status)))
  (core func $drop-in (canon resource.drop $incoming))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "host" "send" (func $send (param i32 i32)))
    (import "host" "start" (func $start (param i32 i32)))
    (import "host" "read" (func $read (param i32 i32 i32)))
    (import "host" "status" (func $status (param i32) (result i32)))
    (import "host" "drop-in" (func $drop-in (param i32)))
    ;; Scratch layout: request record at 0 (64 bytes, zeroed = GET, no headers/body/options),
    ;; return area at 128 (result: tag u8 at +0, payload at +8; error-code tag u8 at +8).
    (func $request (param $url i32) (param $len i32)
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 128))
      (i32.store (i32.const 12) (local.get $url))
      (i32.store (i32.const 16) (local.get $len)))
    (func (export "send-url") (param $url i32) (param $len i32) (result i32)
      (call $request (local.get $url) (local.get $len))
      (call $send (i32.const 0) (i32.const 128))
      (if (result i32) (i32.load8_u (i32.const 128))
        (then (i32.add (i32.const 1000) (i32.load8_u (i32.const 136))))
        (else (i32.load16_u (i32.const 136)))))
    ;; start, read everything in pieces of $max, drop; the total byte count.
    (func (export "stream-url") (param $url i32) (param $len i32) (param $max i32) (result i32)
      (local $h i32) (local $total i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 128))
      (if (i32.load8_u (i32.const 128))
        (then (return (i32.add (i32.const 1000) (i32.load8_u (i32.const 136))))))
      (local.set $h (i32.load (i32.const 136)))
      (block $done
        (loop $more
          (call $read (local.get $h) (local.get $max) (i32.const 256))
          (if (i32.load8_u (i32.const 256))
            (then (call $drop-in (local.get $h))
                  (return (i32.add (i32.const 2000) (i32.load8_u (i32.const 264))))))
          (br_if $done (i32.eqz (i32.load8_u (i32.const 264))))
          (local.set $total (i32.add (local.get $total) (i32.load (i32.const 272))))
          (br $more)))
      (call $drop-in (local.get $h))
      (local.get $total))
    ;; start and keep the handle (never dropped): the status, or 1000 + error case.
    (func (export "open-url") (param $url i32) (param $len i32) (result i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 128))
      (if (result i32) (i32.load8_u (i32.const 128))
        (then (i32.add (i32.const 1000) (i32.load8_u (i32.const 136))))
        (else (call $status (i32.load (i32.const 136))))))
    ;; send with $n empty header fields (at 4096) and, when $body > 0, a body of $body
    ;; zero bytes (at 16384): the status, or 1000 + error case.
    (func (export "send-shaped") (param $url i32) (param $len i32) (param $n i32)
                                 (param $body i32) (result i32)
      (call $request (local.get $url) (local.get $len))
      (memory.fill (i32.const 4096) (i32.const 0) (i32.const 49152))
      (i32.store (i32.const 20) (i32.const 4096))
      (i32.store (i32.const 24) (local.get $n))
      (if (local.get $body)
        (then (i32.store8 (i32.const 28) (i32.const 1))
              (i32.store (i32.const 32) (i32.const 16384))
              (i32.store (i32.const 36) (local.get $body))))
      (call $send (i32.const 0) (i32.const 128))
      (if (result i32) (i32.load8_u (i32.const 128))
        (then (i32.add (i32.const 1000) (i32.load8_u (i32.const 136))))
        (else (i32.load16_u (i32.const 136)))))
    ;; start, call `status` n times (host-call overhead), drop; the sum of the statuses.
    (func (export "status-many") (param $url i32) (param $len i32) (param $n i32) (result i32)
      (local $h i32) (local $sum i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 128))
      (if (i32.load8_u (i32.const 128))
        (then (return (i32.add (i32.const 1000) (i32.load8_u (i32.const 136))))))
      (local.set $h (i32.load (i32.const 136)))
      (block $done
        (loop $more
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $sum (i32.add (local.get $sum) (call $status (local.get $h))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $more)))
      (call $drop-in (local.get $h))
      (local.get $sum))
    ;; start, keep the handle, then trap.
    (func (export "open-then-trap") (param $url i32) (param $len i32)
      (call $request (local.get $url) (local.get $len))
      (call $start (i32.const 0) (i32.const 128))
      unreachable)
  )
  (core instance $main (instantiate $Main
    (with "env" (instance (export "memory" (memory $memory))))
    (with "host" (instance
      (export "send" (func $send-l))
      (export "start" (func $start-l))
      (export "read" (func $read-l))
      (export "status" (func $status-l))
      (export "drop-in" (func $drop-in))))))

  (func (export "send-url") (param "url" string) (result u32)
    (canon lift (core func $main "send-url") (memory $memory) (realloc $realloc)))
  (func (export "stream-url") (param "url" string) (param "max" u32) (result u32)
    (canon lift (core func $main "stream-url") (memory $memory) (realloc $realloc)))
  (func (export "open-url") (param "url" string) (result u32)
    (canon lift (core func $main "open-url") (memory $memory) (realloc $realloc)))
  (func (export "send-shaped") (param "url" string) (param "headers" u32) (param "body" u32)
    (result u32)
    (canon lift (core func $main "send-shaped") (memory $memory) (realloc $realloc)))
  (func (export "status-many") (param "url" string) (param "n" u32) (result u32)
    (canon lift (core func $main "status-many") (memory $memory) (realloc $realloc)))
  (func (export "open-then-trap") (param "url" string)
    (canon lift (core func $main "open-then-trap") (memory $memory) (realloc $realloc)))
)
"""

#: error-code case indices (wit/types.wit order), for decoding CLIENT_GUEST_WAT results.
ERROR_CASES = tuple(case for case, _ in ERROR_CODE_TY.variant_cases)

#: A component calling one WASI function (random), to pin that WASI state is set per Store.
WASI_GUEST_WAT = r"""
(component
  (import "wasi:random/random@0.2.0" (instance $r (export "get-random-u64" (func (result u64)))))
  (alias export $r "get-random-u64" (func $f))
  (core func $fl (canon lower (func $f)))
  (core module $m
    (import "r" "f" (func $f (result i64)))
    (func (export "g") (result i64) (call $f)))
  (core instance $i (instantiate $m (with "r" (instance (export "f" (func $fl))))))
  (func (export "rand") (result u64) (canon lift (core func $i "g")))
)
"""

#: A guest declaring `send` with types that are not those of wit/client.wit.
WRONG_SEND_WAT = r"""
(component
  (import "astrid:http/client@0.1.0" (instance $c
    (export "send" (func (param "req" u32) (result u32)))))
)
"""

#: A guest importing a client function the WIT does not have.
UNKNOWN_FUNC_WAT = r"""
(component
  (import "astrid:http/client@0.1.0" (instance $c
    (export "frobnicate" (func (result u32)))))
)
"""

#: A component asking WASI for its environment variables and arguments (counts only).
WASI_ENV_GUEST_WAT = r"""
(component
  (type $env-pair (tuple string string))
  (type $env-list (list $env-pair))
  (type $args-list (list string))
  (import "wasi:cli/environment@0.2.0" (instance $env
    (export "get-environment" (func (result $env-list)))
    (export "get-arguments" (func (result $args-list)))))
  (core module $Mem
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $p) (local.get 3)))
      (local.get $p)))
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))
  (alias export $env "get-environment" (func $get-env))
  (alias export $env "get-arguments" (func $get-args))
  (core func $get-env-l (canon lower (func $get-env) (memory $memory) (realloc $realloc)))
  (core func $get-args-l (canon lower (func $get-args) (memory $memory) (realloc $realloc)))
  (core module $Main
    (import "env" "memory" (memory 1))
    (import "wasi" "get-env" (func $get-env (param i32)))
    (import "wasi" "get-args" (func $get-args (param i32)))
    (func (export "env-count") (result i32)
      (call $get-env (i32.const 0)) (i32.load (i32.const 4)))
    (func (export "arg-count") (result i32)
      (call $get-args (i32.const 0)) (i32.load (i32.const 4))))
  (core instance $main (instantiate $Main
    (with "env" (instance (export "memory" (memory $memory))))
    (with "wasi" (instance (export "get-env" (func $get-env-l))
                           (export "get-args" (func $get-args-l))))))
  (func (export "env-count") (result u32) (canon lift (core func $main "env-count")))
  (func (export "arg-count") (result u32) (canon lift (core func $main "arg-count")))
)
"""
