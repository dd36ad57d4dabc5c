"""Real servers for tests, on loopback only: trio+h11 HTTP(S) (`http`, `tls`) and nginx (`nginx`).

Fixtures live in :mod:`tests.servers.fixtures` (load it with
``pytest_plugins = ["tests.servers.fixtures"]``):

- ``http_server``: a :class:`~tests.servers.http.TestServer` (plain HTTP, 127.0.0.1).
- ``http_server_b``: a second one, for cross-origin redirects.
- ``tls_ca``: a session-wide :class:`~tests.servers.tls.TestCA` (trustme CA, client contexts).
- ``https_server``: HTTPS with a certificate for ``public.test``, ``other.test``, ``localhost``
  and ``127.0.0.1``; ``https_wrong_host_server`` (cert for ``wrong.test`` only);
  ``https_expired_server`` (expired cert).
- ``nginx``: a session-wide :class:`~tests.servers.nginx.Nginx` serving static files over
  HTTP and HTTPS (skips, or fails with ``ASTRID_REQUIRE_ALL=1``, when nginx is missing).

Helpers:

- :mod:`tests.servers.guard`: ``make_client(...)`` builds a ``CapsuleHttp`` that reaches
  127.0.0.1 under made-up names (``public.test``, ``other.test``; ``private.test`` resolves to
  10.0.0.5 and stays refused) through the *real* guard plus a test-only classifier that calls
  only the named loopback address public.
- :mod:`tests.servers.bench`: ``python3 -m tests.servers.bench`` measures keep-alive vs
  new-connection GETs and nginx 50 MB streaming.
"""
