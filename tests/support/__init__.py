"""What tests and benchmarks share: real servers on loopback only, AnyIO+h11 HTTP(S) (`http`,
`tls`) and nginx (`nginx`), fakes, WAT guests and helpers.

Fixtures live in :mod:`tests.support.fixtures` (loaded for every test by tests/conftest.py with
``pytest_plugins = ["tests.support.fixtures"]``):

- ``http_server``: a :class:`~tests.support.http.TestServer` (plain HTTP, 127.0.0.1).
- ``http_server_b``: a second one, for cross-origin redirects.
- ``tls_ca``: a session-wide :class:`~tests.support.tls.TestCA` (trustme CA, client contexts).
- ``https_server``: HTTPS with a certificate for ``public.test``, ``other.test``, ``localhost``
  and ``127.0.0.1``; ``https_wrong_host_server`` (cert for ``wrong.test`` only);
  ``https_expired_server`` (expired cert).
- ``nginx``: a session-wide :class:`~tests.support.nginx.Nginx` serving static files over
  HTTP and HTTPS (skips, or fails with ``ASTRID_REQUIRE_ALL=1``, when nginx is missing).

tests/conftest.py adds ``cache_dir``, ``host`` (capsules on a fake backend), ``client`` (a
``CapsuleHttp`` for the servers above; a module overrides ``client_limits``) and friends.

Helpers:

- :mod:`tests.support.guard`: ``make_client(...)`` builds a ``CapsuleHttp`` that reaches
  127.0.0.1 under made-up names (``public.test``, ``other.test``; ``private.test`` resolves to
  10.0.0.5 and stays refused) through the *real* guard plus a test-only classifier that calls
  only the named loopback address public; ``aclose_during`` closes one mid-operation.
- :mod:`tests.support.fakes`: a fake HTTP backend for the wasm layer.
- :mod:`tests.support.wat`: fake guests in component WAT (no toolchain needed);
  :mod:`tests.support.probes`: WAT probes of the value boundary.
- :mod:`tests.support.values`: WIT values for wasmtime-py and their decoding.
- :mod:`tests.support.bindings`: the generated bindings of the ``echo`` world.
- :mod:`tests.support.oracle`: an independent oracle for the IP classifier (IANA CSV in
  ``data/``).
- :mod:`tests.support.process`: the process's fds and RSS, and child runs.
- :mod:`tests.support.timing`: ``PROMPT_S`` and bounded polling: no test depends on how busy
  the machine is.
- :mod:`tests.support.paths`: the repository root and the built guests.
- ``python3 -m benchmarks.engine_throughput`` measures keep-alive vs new-connection GETs and
  nginx 50 MB streaming with these servers.
"""
