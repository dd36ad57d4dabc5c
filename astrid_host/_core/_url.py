"""Parse a capsule's URL the way a browser would: :func:`parse_url`.

The egress guard must judge the host that a real client would contact, not the text the capsule
wrote. So the host follows the WHATWG URL Standard's rules for special schemes:
``http://2130706433/``, ``http://0177.0.0.1/``, ``http://0x7f.1/`` and ``http://127.1/`` are all
127.0.0.1; ``[::ffff:7f00:1]`` is an IPv6 literal; fullwidth digits and letters are NFKC-mapped;
a trailing dot and upper case are normalised; the *last* ``@`` before the path ends the userinfo,
and ``#``, ``?``, ``/`` and ``\\`` end the authority (so ``http://127.0.0.1#@a`` is 127.0.0.1).

Stricter than WHATWG where leniency only helps an attacker: control characters (CR, LF, NUL,
tab, ...) anywhere are an error instead of being stripped, IPv6 zone ids are an error, empty hosts
and labels are an error, port 0 is an error, and only ``http``/``https`` are accepted.
"""

from __future__ import annotations

import re
import socket  # only inet_pton: strict IPv6 text->bytes, no I/O
import unicodedata
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

__all__ = ["DEFAULT_PORTS", "InvalidUrl", "ParsedUrl", "parse_url", "too_long"]

#: Default port per accepted scheme.
DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}

#: Longest URL accepted by default, in UTF-8 bytes (the same default as ``Limits.max_url_bytes``).
DEFAULT_MAX_LENGTH = 8192


def too_long(max_length: int) -> str:
    """The one message for a URL over ``max_length`` UTF-8 bytes, wherever its length is
    checked (:func:`parse_url`; a layer that must refuse before it has the text as a string)."""
    return f"URL is longer than {max_length} bytes"


class InvalidUrl(ValueError):
    """The URL given (by the capsule or user) cannot be used; the message says which part."""


@dataclass(frozen=True)
class ParsedUrl:
    """A normalised ``http``/``https`` URL.

    scheme: ``"http"`` or ``"https"``.
    host: lower-case ASCII host: a domain without trailing dot, dotted-quad IPv4, or compressed
      IPv6 *without* brackets.
    ip: the address when the host is an IP literal, else ``None`` (a name to resolve).
    port: the effective port (the scheme default when the URL has none).
    target: path plus ``?query`` as sent in the request line; never empty.
    username, password: userinfo as written (percent-encoded), ``""`` if absent.
    """

    scheme: str
    host: str
    ip: IPv4Address | IPv6Address | None
    port: int
    target: str
    username: str = ""
    password: str = ""

    @property
    def default_port(self) -> bool:
        """True if the port is the scheme's default (and so is left out of Host and origin)."""
        return DEFAULT_PORTS[self.scheme] == self.port

    @property
    def host_literal(self) -> str:
        """The host as it appears in a URL: IPv6 in brackets."""
        return f"[{self.host}]" if isinstance(self.ip, IPv6Address) else self.host

    @property
    def authority(self) -> str:
        """``host[:port]`` without userinfo, as in the Host header."""
        if self.default_port:
            return self.host_literal
        return f"{self.host_literal}:{self.port}"

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``: what redirects and connection pools are keyed on."""
        return f"{self.scheme}://{self.authority}"

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.partition("?")[0]

    def url(self) -> str:
        """The normalised URL without credentials or fragment."""
        return self.origin + self.target

    def redacted(self) -> str:
        """The URL for logs: no credentials, no query string (it may carry tokens)."""
        return self.origin + self.path

    def __str__(self) -> str:
        return self.url()


# Characters a special-scheme host may never contain (WHATWG "forbidden domain code point"),
# plus '%' which is only meaningful before percent-decoding.
_FORBIDDEN_HOST = frozenset("\x00\t\n\r #/:<>?@[\\]^|%\x7f") | frozenset(map(chr, range(0x20)))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]*[a-z0-9_])?")
# Path/query bytes that WHATWG percent-encodes (plus everything non-ASCII).
_PATH_ENCODE = frozenset(' "<>`{}#')
_QUERY_ENCODE = frozenset(' "<>#')


def parse_url(url: str, *, max_length: int = DEFAULT_MAX_LENGTH) -> ParsedUrl:
    """Parse and normalise ``url``; raise :class:`InvalidUrl` saying what is wrong.

    ``max_length`` caps the URL's UTF-8 length (checked first, so hostile input stays cheap).
    """
    if not isinstance(url, str):
        raise InvalidUrl(f"URL must be text, got {type(url).__name__}")
    if len(url) > max_length or len(url.encode("utf-8", "surrogatepass")) > max_length:
        raise InvalidUrl(too_long(max_length))
    bad = _CONTROL.search(url)
    if bad:
        raise InvalidUrl(f"control character {bad.group()!r} at offset {bad.start()}")
    url = url.strip(" ")

    scheme, colon, rest = url.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        raise InvalidUrl("URL has no scheme (expected http:// or https://)")
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidUrl(f"scheme {scheme!r} is not allowed (only http and https)")

    # Special schemes ignore any run of slashes and backslashes before the authority.
    rest = rest.lstrip("/\\")
    end = len(rest)
    for stop in "/\\?#":
        i = rest.find(stop)
        if i != -1 and i < end:
            end = i
    authority, remainder = rest[:end], rest[end:]

    userinfo, at, hostport = authority.rpartition("@")
    username = password = ""
    if at:
        username, _, password = userinfo.partition(":")
    host_text, port_text = _split_port(hostport)
    ip, host = _parse_host(host_text)
    port = _parse_port(port_text, scheme)
    target = _parse_target(remainder)
    return ParsedUrl(scheme, host, ip, port, target, username, password)


def _split_port(hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("["):
        close = hostport.find("]")
        if close == -1:
            raise InvalidUrl("IPv6 host has '[' without ']'")
        after = hostport[close + 1:]
        if after and not after.startswith(":"):
            raise InvalidUrl(f"unexpected {after!r} after the IPv6 host")
        return hostport[:close + 1], (after[1:] if after else None)
    host, colon, port = hostport.partition(":")
    return host, (port if colon else None)


def _parse_port(text: str | None, scheme: str) -> int:
    if text is None or text == "":
        return DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit()):
        raise InvalidUrl(f"port {text!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise InvalidUrl(f"port {port} is outside 1-65535")
    return port


def _parse_host(text: str) -> tuple[IPv4Address | IPv6Address | None, str]:
    if not text:
        raise InvalidUrl("URL has no host")
    if text.startswith("["):
        inner = text[1:-1]
        if "%" in inner:
            raise InvalidUrl("IPv6 zone ids are not allowed in URLs")
        try:
            ip6 = IPv6Address(int.from_bytes(socket.inet_pton(socket.AF_INET6, inner), "big"))
        except (OSError, ValueError):
            raise InvalidUrl(f"invalid IPv6 address {inner!r}") from None
        return ip6, str(ip6)
    host = _percent_decode_host(text)
    host = unicodedata.normalize("NFKC", host).translate(_DOTS).lower()
    if any(ch in _FORBIDDEN_HOST for ch in host):
        raise InvalidUrl(f"host {text!r} contains a forbidden character")
    if not host.isascii():
        host = _to_ascii(host, text)
    if host.endswith("."):
        host = host[:-1]  # "example.com." names the same host as "example.com"
    if not host:
        raise InvalidUrl("URL has no host")
    labels = host.split(".")
    if _ends_in_number(labels):
        ip4 = _parse_ipv4(labels, text)
        return ip4, str(ip4)
    if len(host) > 253:
        raise InvalidUrl("host name is longer than 253 characters")
    for label in labels:
        if not label:
            raise InvalidUrl(f"host {text!r} has an empty label")
        if len(label) > 63 or not _LABEL.fullmatch(label):
            raise InvalidUrl(f"host label {label!r} is not a valid DNS label")
    return None, host


def _percent_decode_host(text: str) -> str:
    if "%" not in text:
        return text
    raw = bytearray()
    i = 0
    data = text.encode("utf-8")
    while i < len(data):
        if data[i] == 0x25:  # '%'
            pair = data[i + 1:i + 3]
            if len(pair) != 2 or not all(c in b"0123456789abcdefABCDEF" for c in pair):
                raise InvalidUrl(f"host {text!r} has a malformed percent-escape")
            raw.append(int(pair, 16))
            i += 3
        else:
            raw.append(data[i])
            i += 1
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUrl(f"host {text!r} percent-decodes to invalid UTF-8") from None
    if _CONTROL.search(decoded):
        raise InvalidUrl(f"host {text!r} percent-decodes to a control character")
    return decoded


def _to_ascii(host: str, original: str) -> str:
    labels = []
    for label in host.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            raise InvalidUrl(f"host {original!r} is not a valid internationalised name") from None
    return ".".join(labels)


def _ends_in_number(labels: list[str]) -> bool:
    # WHATWG: a host whose last label is a number is an IPv4 address (and must parse as one).
    last = labels[-1]
    if last.isascii() and last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and all(c in "0123456789abcdefABCDEF" for c in last[2:])


def _parse_ipv4_part(part: str, original: str) -> int:
    if not part:
        raise InvalidUrl(f"host {original!r} has an empty IPv4 part")
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if digits == "":
        return 0
    try:
        if not digits.isascii():
            raise ValueError
        return int(digits, base)
    except ValueError:
        raise InvalidUrl(f"host {original!r} has an invalid IPv4 part {part!r}") from None


def _parse_ipv4(labels: list[str], original: str) -> IPv4Address:
    if len(labels) > 4:
        raise InvalidUrl(f"host {original!r} has more than four IPv4 parts")
    numbers = [_parse_ipv4_part(p, original) for p in labels]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidUrl(f"host {original!r} is an out-of-range IPv4 address")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return IPv4Address(value)


def _encode(text: str, unsafe: frozenset[str]) -> str:
    if text.isascii() and not any(c in unsafe for c in text):
        return text
    out = []
    for ch in text:
        if ch.isascii() and ch not in unsafe:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def _parse_target(remainder: str) -> str:
    remainder = remainder.partition("#")[0]
    path, question, query = remainder.partition("?")
    path = _remove_dot_segments(path.replace("\\", "/"))
    target = _encode(path, _PATH_ENCODE)
    if question:
        target += "?" + _encode(query, _QUERY_ENCODE)
    return target


def _remove_dot_segments(path: str) -> str:
    # Servers see the path after dot segments are resolved, as a browser would send it.
    if not path:
        return "/"
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        lowered = seg.lower()
        if lowered in ("..", ".%2e", "%2e.", "%2e%2e"):
            if out:
                out.pop()
            if last:
                out.append("")
        elif lowered in (".", "%2e"):
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)
