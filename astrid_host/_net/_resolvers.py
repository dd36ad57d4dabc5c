"""Name resolution for the pinned backend: the :class:`Resolver` interface, the system resolver,
and a static table (tests and the CLI's ``--resolve``).

A resolver only answers; :class:`~astrid_host._net._backend.PinnedBackend` bounds every lookup
by its DNS timeout and judges every answer.
"""

from __future__ import annotations

import abc
import socket
from collections.abc import Iterable, Mapping
from ipaddress import ip_address

import anyio
import anyio.lowlevel

from astrid_host._core._classify import IPAddress
from astrid_host._core._model import ErrorCode, HttpError

__all__ = ["Resolver", "StaticResolver", "SystemResolver", "normalise_name"]


class Resolver(abc.ABC):
    """Turns a host name into addresses. Implementations raise ``HttpError(dns-error)``."""

    @abc.abstractmethod
    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses for ``host`` in preference order (may contain duplicates)."""


class SystemResolver(Resolver):
    """The system resolver via :func:`anyio.getaddrinfo` (in a worker thread).

    No timeout of its own: :class:`PinnedBackend` wraps every lookup in ``dns_timeout``.
    """

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Look ``host`` up for TCP; a lookup failure becomes ``dns-error``."""
        try:
            infos = await anyio.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc)
            raise HttpError(ErrorCode.dns_error(f"{host}: {detail}")) from None
        # getaddrinfo may append "%scope" to link-local answers; the scope does not change
        # the verdict (link-local is refused) but ip_address() would reject the text.
        return [ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


class StaticResolver(Resolver):
    """A fixed name → addresses table (tests, and the CLI's ``--resolve``). Names are
    compared case-insensitively without a trailing dot; unknown names are a ``dns-error``."""

    def __init__(self, mapping: Mapping[str, Iterable[str | IPAddress]]) -> None:
        for name, answers in mapping.items():
            if isinstance(answers, (str, bytes)):
                # One string would be read a character at a time.
                raise TypeError(f"the answers for {name!r} must be a list of addresses, not one "
                                f"{type(answers).__name__}: write [{answers!r}]")
        self._table: dict[str, tuple[IPAddress, ...]] = {
            normalise_name(name): tuple(ip_address(a) for a in answers)
            for name, answers in mapping.items()
        }

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The table's answers for ``host``."""
        await anyio.lowlevel.checkpoint()
        answers = self._table.get(normalise_name(host))
        if not answers:
            raise HttpError(ErrorCode.dns_error(f"{host}: no such name in the static table"))
        return list(answers)


def normalise_name(name: str) -> str:
    """A host name as resolvers compare it: lower case, no trailing dot."""
    return name.lower().rstrip(".")
