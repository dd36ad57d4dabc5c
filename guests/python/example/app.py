"""The example capsule: fetch one URL through the host's guarded client and summarise it.

`run(input)` takes a JSON object::

    {"url": "https://example.test/", "method": "GET", "stream": false, "chunk": 65536,
     "headers": [["accept", "text/plain"]], "body": "text to send", "output": false}

and answers a JSON object: ``{"ok": true, "status", "bytes", "sha256", "headers", "final_url",
"redirects"}`` on success or ``{"ok": false, "error": <error-code case>, "detail": <text>}``
when the host refused or the request failed. Bad input is reported through the `err` result.
With ``"output": true`` (buffered only) the body itself is handed to the host as the call's
output (:func:`write_output`; ``astrid-host run --output FILE`` saves it); when the host
refuses a piece (no output asked for, or past its limit) the call fails with ``err``, so a
body handed over only in part never passes for an answer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import wit_world
from componentize_py_types import Err
from wit_world.imports import client, output, types

_METHODS: dict[str, types.Method] = {
    "GET": types.Method_Get(),
    "HEAD": types.Method_Head(),
    "POST": types.Method_Post(),
    "PUT": types.Method_Put(),
    "DELETE": types.Method_Delete(),
    "OPTIONS": types.Method_Options(),
    "PATCH": types.Method_Patch(),
}


def _method(token: str) -> types.Method:
    # Standard methods travel as their own case; anything else is passed through as given,
    # and the host decides whether it is an acceptable token.
    return _METHODS.get(token, types.Method_Other(token))


def _error_summary(code: Any) -> dict[str, Any]:
    # Each error-code case is a dataclass named ErrorCode_<Case>; payload-less cases have no
    # `value`. The case name is turned back into the WIT spelling for the summary.
    name = type(code).__name__.removeprefix("ErrorCode_")
    case = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    return {"ok": False, "error": case, "detail": _detail(getattr(code, "value", None))}


def _detail(payload: Any) -> Any:
    """The payload as text a person can read: records spelled out, enums by name."""
    if payload is None or isinstance(payload, (str, int)):
        return payload
    if hasattr(payload, "addresses"):  # prohibited-address
        refused = ", ".join(f"{a.address} ({a.reason})" for a in payload.addresses)
        return f"{payload.host} -> {refused}"
    if hasattr(payload, "part"):  # invalid-request
        return f"{_detail(payload.part)}: {payload.detail}"
    if hasattr(payload, "name") and hasattr(payload, "value"):  # an enum case
        return str(payload.name).lower().replace("_", "-")
    return repr(payload)


class WitWorld(wit_world.WitWorld):
    def run(self, input: str) -> str:
        try:
            args = json.loads(input)
            url = str(args["url"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Err(f"input must be a JSON object with a url: {exc}") from None
        body = args.get("body")
        request = types.Request(
            method=_method(str(args.get("method", "GET"))),
            url=url,
            headers=[(str(k), str(v).encode()) for k, v in args.get("headers", [])],
            body=None if body is None else str(body).encode(),
            options=None,
        )
        body = None
        try:
            if args.get("stream"):
                summary = _streamed(request, int(args.get("chunk", 65536)))
            else:
                summary, body = _buffered(request)
        except Err as err:
            summary = _error_summary(err.value)
        if args.get("output") and body is not None:
            try:
                write_output(body)
            except Err as err:
                # A body only partly handed over must not pass for an answer: the call fails.
                raise Err(json.dumps(_error_summary(err.value), sort_keys=True)) from None
        return json.dumps(summary, sort_keys=True)


#: Largest piece one ``write-str`` carries: a string crosses as one buffer, and pieces of
#: about 1 MiB cross fastest (docs/dev/body-lane.md).
OUTPUT_PIECE = 1024 * 1024


def write_output(data: bytes) -> None:
    """Hand ``data`` to the host as the call's output, through the string lane.

    ``write-str`` carries each byte as one code point (0-255), pieces of at most 1 MiB. Raises
    ``Err`` with the host's error-code when the host did not ask this call for output
    (``invalid-request``) or past the output limit (``body-too-large``).
    """
    for start in range(0, len(data), OUTPUT_PIECE):
        output.write_str(data[start:start + OUTPUT_PIECE].decode("latin-1"))


def _buffered(request: types.Request) -> tuple[dict[str, Any], bytes]:
    response = client.send(request)
    return {
        "ok": True,
        "status": response.status,
        "bytes": len(response.body),
        "sha256": hashlib.sha256(response.body).hexdigest(),
        "headers": len(response.headers),
        "final_url": response.meta.final_url,
        "redirects": response.meta.redirect_count,
    }, response.body


def read_bytes(stream: client.IncomingResponse, max_bytes: int) -> bytes | None:
    """The next piece of the body as bytes, ``None`` at the end: the string lane.

    ``read-str`` carries each body byte as one code point (0-255), which crosses the
    boundary as one buffer where ``read``'s ``list<u8>`` costs about a microsecond per byte;
    ``encode("latin-1")`` gives the bytes back (docs/guests.md, "The body lane").
    """
    piece = stream.read_str(max_bytes)
    return None if piece is None else piece.encode("latin-1")


def _streamed(request: types.Request, chunk: int) -> dict[str, Any]:
    digest = hashlib.sha256()
    total = 0
    chunks = 0
    with client.start(request) as stream:
        status = stream.status()
        headers = stream.headers()
        while (piece := read_bytes(stream, chunk)) is not None:
            digest.update(piece)
            total += len(piece)
            chunks += 1
        meta = stream.meta()
    return {
        "ok": True,
        "status": status,
        "bytes": total,
        "sha256": digest.hexdigest(),
        "headers": len(headers),
        "chunks": chunks,
        "final_url": meta.final_url,
        "redirects": meta.redirect_count,
    }
