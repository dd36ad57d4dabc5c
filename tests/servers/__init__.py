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
"""
