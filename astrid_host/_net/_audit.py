"""Where a capsule's requests are written down: :class:`Audit` (one per capsule) and
:class:`RequestAudit` (one per request).

Two outputs, each written in one place:

- the **decision lines** (``astrid_host.egress``, see :mod:`astrid_host._core._decision`),
  by :meth:`Audit._record`, from three points: a request or hop **refused** before anything was
  resolved, a hop that **ended** (its response head arrived, or it failed on the way, with what
  the backend resolved and chose), and the **completion** of a response's body; plus one warning
  on ``astrid_host.http`` per failed exchange;
- the **audit trail** (when the host has a sink), by :meth:`Audit._append`: for every hop, a
  decision record written before any byte of the hop is sent (allowed: once the backend has a
  connection for it, with the addresses resolved and the one chosen; refused or failed before
  sending: when that is known), and a completion record when the hop ends (status, bytes,
  elapsed, error). Every decision record has exactly one completion record with the same
  request id and hop, unless the process died in between.

A record that cannot be written fails the request (``internal``): the host never sends what is
not on the record. A sink whose ``blocking`` is true (``fsync`` mode) is called from a worker
thread so the event loop goes on meanwhile.

Header values carrying a secret appear only in their placeholder form (the hashes of the
record), and text the host writes from what a server sent is scrubbed of secret values
(:meth:`~astrid_host._core._secrets.Secrets.scrub`).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence

import anyio
import anyio.to_thread

from astrid_host._audit._sink import AuditSink
from astrid_host._core._audit_records import AuditRecord, CompletionRecord, DecisionRecord
from astrid_host._core._decision import EgressDecision, Resolution, log_decision
from astrid_host._core._model import ErrorCode, HttpError
from astrid_host._core._redirects import Hop, Refusal
from astrid_host._core._secrets import Secrets, Substitution

__all__ = ["Audit", "RequestAudit"]

_log = logging.getLogger("astrid_host.http")
_audit_log = logging.getLogger("astrid_host.audit")

#: Request ids are ``<process>-<n>``: unique in a trail even when several host processes
#: continue it one after another, and shared by every capsule of the process.
_PROCESS = os.urandom(4).hex()
_NUMBERS = itertools.count(1)

Headers = Sequence[tuple[bytes, bytes]]


class Audit:
    """The decision lines, failure warnings and audit records of one capsule.

    capsule: its name. sink: where records go (``None``: no audit trail). secrets: the
    capsule's secrets, whose values are scrubbed from every line.
    """

    def __init__(self, capsule: str, sink: AuditSink | None = None,
                 secrets: Secrets | None = None) -> None:
        self.capsule = capsule
        self._sink = sink
        self._secrets = secrets if secrets is not None else Secrets()

    def request(self) -> RequestAudit:
        """The records of a new request (it gets its id here)."""
        return RequestAudit(self, f"{_PROCESS}-{next(_NUMBERS)}")

    def hop_ended(self, hop: Hop, resolution: Resolution | None, *, status: int | None = None,
                  error: ErrorCode | None = None) -> EgressDecision:
        """Write how a hop ended: its head arrived (``status``) or it failed (``error``)."""
        decision = hop.ended(self.capsule, resolution, status=status, error=error)
        self._record(decision)
        return decision

    def completed(self, final: EgressDecision, *, body_bytes: int, elapsed_ms: int) -> None:
        """Write that a response body was read to its end (``final``: how its last hop ended)."""
        self._record(final.completed(body_bytes, elapsed_ms))

    def failed(self, first: Hop, code: ErrorCode) -> None:
        """Warn that the request whose first hop is ``first`` failed with ``code``."""
        _log.warning("http failed capsule=%s method=%s url=%s error=%s", self.capsule,
                     first.request.method.decode("latin-1"),
                     self._secrets.scrub(first.url.redacted()), self._secrets.scrub(str(code)))

    @property
    def recording(self) -> bool:
        """Whether records go anywhere (the host has an audit trail)."""
        return self._sink is not None

    def _record(self, decision: EgressDecision) -> None:
        log_decision(decision, scrub=self._secrets.scrub)

    async def _append(self, record: AuditRecord) -> None:
        """Put ``record`` on the trail; ``HttpError(internal)`` if it could not be kept."""
        sink = self._sink
        if sink is None:
            return
        try:
            if sink.blocking:
                await anyio.to_thread.run_sync(sink.append, record)
            else:
                sink.append(record)
        except Exception as exc:  # AuditError, or whatever a platform's sink raises
            _audit_log.error("capsule %s: the audit trail cannot be written, the request is "
                             "refused: %s", self.capsule, exc)
            raise HttpError(ErrorCode.internal(
                "the host's audit trail cannot be written; requests are refused until it "
                "can")) from None


class RequestAudit:
    """The records of one request: its id and the hop whose completion is due.

    Each hop's decision record is written by :meth:`refused` (a hop refused before anything was
    resolved) or :meth:`reached` (a connection is ready, nothing of the hop sent yet, or the
    hop failed before reaching one); :meth:`done` writes its completion.
    """

    def __init__(self, audit: Audit, request_id: str) -> None:
        self.audit = audit
        self.request_id = request_id
        #: The hop whose decision is on the record and whose completion is not (or ``None``).
        self.due: int | None = None

    async def refused(self, refusal: Refusal, hop: int, *, headers: Headers = (),
                      body: bytes | None = None, streamed: bool = False, elapsed_ms: int = 0,
                      secrets: Sequence[str] = ()) -> HttpError:
        """Write a refused hop (its line, decision and completion); the capsule's error.

        headers/body: what the hop would have sent (the capsule's, placeholders unfilled);
        secrets: the names a secret refusal is about.
        """
        audit = self.audit
        audit._record(refusal.decision(audit.capsule))
        if audit.recording:
            policy = refusal.policy
            await audit._append(DecisionRecord.build(
                capsule=audit.capsule, request_id=self.request_id, hop=hop,
                method=refusal.method, allowed=False, reason=refusal.reason, url=refusal.target,
                headers=headers, body=None if streamed else body, body_streamed=streamed,
                rule=None if policy is None else policy.rule,
                addresses=() if policy is None or policy.address is None else (policy.address,),
                secrets=secrets))
            self.due = hop
            await self.done(hop, status=None, bytes_in=0, bytes_out=0, elapsed_ms=elapsed_ms,
                            error=refusal.code)
        return HttpError(refusal.code)

    async def reached(self, hop: Hop, sub: Substitution, body: bytes | None,
                      resolution: Resolution | None) -> None:
        """Write the decision of a hop about to send on a connection pinned to
        ``resolution.chosen`` (``body``: its buffered body, ``None`` if none or streamed), or
        of one that failed before reaching a connection (DNS, every address prohibited or
        refusing, a connect timeout: the guard's verdict on what was resolved, nothing sent)."""
        self.due = hop.redirects
        if self.audit.recording:
            await self._decision(hop, sub, body, hop.ended(self.audit.capsule, resolution))

    async def done(self, hop: int, *, status: int | None, bytes_in: int, bytes_out: int,
                   elapsed_ms: int, error: ErrorCode | None = None) -> None:
        """Write the completion of ``hop`` if it is the one due (else nothing: written)."""
        if self.due != hop:
            return
        self.due = None
        audit = self.audit
        if not audit.recording:
            return
        await audit._append(CompletionRecord.build(
            capsule=audit.capsule, request_id=self.request_id, hop=hop, status=status,
            bytes_in=bytes_in, bytes_out=bytes_out, elapsed_ms=elapsed_ms, error=error))

    async def _decision(self, hop: Hop, sub: Substitution, body: bytes | None,
                        verdict: EgressDecision) -> None:
        audit = self.audit
        await audit._append(DecisionRecord.build(
            capsule=audit.capsule, request_id=self.request_id, hop=hop.redirects,
            method=verdict.method, allowed=verdict.allowed, reason=verdict.reason, url=hop.url,
            headers=sub.template,
            body=None if hop.streamed else body, body_streamed=hop.streamed, rule=verdict.rule,
            addresses=verdict.addresses, chosen=verdict.chosen,
            secrets=sub.names, dropped_headers=sub.dropped))
