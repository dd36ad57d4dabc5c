"""``--resolve HOST=IP[,IP...]``: answer DNS for some names from the command line.

Shared by ``check-url`` and ``run``. Only the name lookup is replaced: the guard still
classifies every answer, so a name pointed at 127.0.0.1 is refused like any loopback address
unless the operator's local allowance (``--local 127.0.0.1:PORT``) covers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from astrid_host._core._classify import InvalidAddress, IPAddress, classify_ip
from astrid_host._net._backend import Resolver, StaticResolver, SystemResolver

__all__ = ["OverrideResolver", "parse_resolve"]


def parse_resolve(entries: Iterable[str]) -> dict[str, list[str]]:
    """``["api.test=127.0.0.1,::1", ...]`` as a name → addresses table (names lower-cased,
    without a trailing dot). Raises ``ValueError`` naming the bad entry."""
    table: dict[str, list[str]] = {}
    for entry in entries:
        host, eq, answers = entry.partition("=")
        if not eq or not host or not answers:
            raise ValueError(f"--resolve {entry!r} must look like HOST=IP[,IP...]")
        for answer in answers.split(","):
            try:
                classify_ip(answer)
            except InvalidAddress as exc:
                raise ValueError(f"--resolve {entry!r}: {exc}") from None
        table.setdefault(host.lower().rstrip("."), []).extend(answers.split(","))
    return table


class OverrideResolver(Resolver):
    """Names in ``table`` get its answers; every other name goes to ``fallback`` (default: the
    system resolver), like curl's ``--resolve``."""

    def __init__(self, table: Mapping[str, Iterable[str]],
                 fallback: Resolver | None = None) -> None:
        self._names = {name.lower().rstrip(".") for name in table}
        self._static = StaticResolver(table)
        self._fallback = fallback if fallback is not None else SystemResolver()

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The table's answers for ``host`` when it has them, else the fallback's."""
        if host.lower().rstrip(".") in self._names:
            return await self._static.resolve(host, port)
        return await self._fallback.resolve(host, port)
