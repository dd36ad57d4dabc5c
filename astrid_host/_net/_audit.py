"""Where a capsule's requests are written down: :class:`Audit`, one per capsule.

Every decision line (``astrid_host.egress``, see :mod:`astrid_host._core._decision`) is written
by :meth:`Audit._record`, nowhere else, from three points: a request or hop **refused** before
anything was resolved, a hop that **ended** (its response head arrived, or it failed on the way,
with what the backend resolved and chose), and the **completion** of a response's body. Every
failure of an exchange adds one warning on ``astrid_host.http``.
"""

from __future__ import annotations

import logging

from astrid_host._core._decision import EgressDecision, Resolution, log_decision
from astrid_host._core._model import ErrorCode, HttpError
from astrid_host._core._redirects import Hop, Refusal

__all__ = ["Audit"]

_log = logging.getLogger("astrid_host.http")


class Audit:
    """The decision lines and failure warnings of one capsule (``capsule`` is its name)."""

    def __init__(self, capsule: str) -> None:
        self.capsule = capsule

    def refused(self, refusal: Refusal) -> HttpError:
        """Record a request or hop refused before anything was resolved; the capsule's error."""
        self._record(refusal.decision(self.capsule))
        return HttpError(refusal.code)

    def hop_ended(self, hop: Hop, resolution: Resolution | None, *, status: int | None = None,
                  error: ErrorCode | None = None) -> EgressDecision:
        """Record how a hop ended: its head arrived (``status``) or it failed (``error``)."""
        decision = hop.ended(self.capsule, resolution, status=status, error=error)
        self._record(decision)
        return decision

    def completed(self, final: EgressDecision, *, body_bytes: int, elapsed_ms: int) -> None:
        """Record a response body read to its end (``final``: how its last hop ended)."""
        self._record(final.completed(body_bytes, elapsed_ms))

    def failed(self, first: Hop, code: ErrorCode) -> None:
        """Warn that the request whose first hop is ``first`` failed with ``code``."""
        _log.warning("http failed capsule=%s method=%s url=%s error=%s", self.capsule,
                     first.request.method.decode("latin-1"), first.url.redacted(), code)

    def _record(self, decision: EgressDecision) -> None:
        log_decision(decision)
