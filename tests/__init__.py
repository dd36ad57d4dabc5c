"""The test suite, in folders by layer (each a package, so module names are unique):

- ``core/``: pure logic (classifier, ranges, URLs, policy, redirects, headers, bodies, limits,
  the model, the manifest); tables and hypothesis, no I/O.
- ``net/``: the HTTP engine against real loopback servers (backend, send, streams, timeouts,
  bodies, redirects, TLS, nginx).
- ``wasm/``: the runtime (capsule, host, imports, value conversion, compile cache, WASI).
- ``bindgen/``: generated bindings and the ``bindgen`` command.
- ``cli/``: the ``astrid-host`` commands.
- ``guests/``: conformance through real guest components, and building them.
- ``hostile/``: hostile capsules and servers (docs/hostile.md).
- ``project/``: the repository itself (layering, public exports, README, benchmarks).
- ``support/``: what tests and benchmarks share (servers, fakes, WAT guests, fixtures).
"""
