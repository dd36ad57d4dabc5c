"""Generated, checked-in typed bindings for the worlds of the ``astrid:http`` WIT package.

- :mod:`astrid_host.bindings.capsule`: ``CapsuleWorld`` (``await bindings.run(text)``).
- :mod:`astrid_host.bindings.conformance`: ``ConformanceWorld`` for the conformance guests.

Regenerate with ``astrid-host bindgen wit --world NAME -o astrid_host/bindings/NAME.py``;
``tests/bindgen/test_checked_in.py`` fails when they are stale.
"""
