"""The composition root: where the wasm layer and the network layer meet.

``_wasm`` and ``_net`` are equals on top of ``_core`` and never import each other
(``tests/project/test_layering.py``). The one place that knows both is here: a :class:`Host`
given no ``http_factory`` builds each capsule's client with :func:`capsule_http`.
``astrid_host`` imports this module, so the wiring is in place whatever the entry point.
"""

from __future__ import annotations

from typing import Any

from astrid_host._core._contracts import HttpBackend
from astrid_host._core._policy import EgressPolicy
from astrid_host._net._client import CapsuleHttp
from astrid_host._wasm._host import CapsuleContext, set_default_http_factory

__all__ = ["capsule_http"]


def capsule_http(ctx: CapsuleContext) -> HttpBackend:
    """The network layer's :class:`CapsuleHttp`, guarded by ``ctx.policy``.

    ``policy`` may be an ``EgressPolicy``, a list of rule strings (parsed here; a malformed
    rule raises ``PolicyError`` and one string instead of a list ``TypeError``, the caller's
    mistakes), or ``None``: a policy that allows nothing. The capsule's secrets and the host's
    audit sink go to the client (every front's requests go through it).
    """
    policy = ctx.policy
    if policy is None:
        policy = EgressPolicy()
    elif not isinstance(policy, EgressPolicy):
        policy = EgressPolicy.parse(policy)
    extra: dict[str, Any] = {}
    if ctx.resolver is not None:
        extra["resolver"] = ctx.resolver
    if ctx.classifier is not None:
        extra["classifier"] = ctx.classifier
    return CapsuleHttp(ctx.name, policy, ctx.limits, ssl_context=ctx.ssl_context,
                       io_limiter=ctx.io_limiter, secrets=ctx.secrets, audit=ctx.audit, **extra)


set_default_http_factory(capsule_http)
