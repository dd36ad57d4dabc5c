"""Generate Python from WIT: typed bindings, host models, and a Markdown reference.

``generate(source, world)`` reads a WIT directory, file or component with wasm-tools and
returns the module text; ``fmt="host"`` gives the host model of a package (see
:mod:`._hostgen`), ``fmt="markdown"`` the reference. The CLI command ``astrid-host bindgen``
wraps it.
"""

from __future__ import annotations

from pathlib import Path

from astrid_host._bindgen._generate import generate_markdown, generate_module
from astrid_host._bindgen._hostgen import generate_host_model, host_spec
from astrid_host._bindgen._model import BindgenError, Resolve
from astrid_host._bindgen._witjson import load_resolve, read_wit_json

__all__ = ["BindgenError", "Resolve", "generate", "load", "load_resolve"]


def load(source: str | Path) -> Resolve:
    """The resolved WIT of a directory, ``.wit`` file or component (runs wasm-tools)."""
    return load_resolve(read_wit_json(source))


def generate(source: str | Path | Resolve, world: str | None = None,
             fmt: str = "python", package: str | None = None) -> str:
    """Bindings for ``world`` (``fmt="python"``), the host model of ``package``
    (``"host"``) or the package reference (``"markdown"``)."""
    resolve = source if isinstance(source, Resolve) else load(source)
    if fmt == "markdown":
        return generate_markdown(resolve)
    if fmt == "host":
        return generate_host_model(resolve, host_spec(resolve, package))
    if fmt != "python":
        raise BindgenError(f"unknown output format {fmt!r} (python, host or markdown)")
    if world is None:
        if len(resolve.worlds) != 1:
            names = ", ".join(w.name for w in resolve.worlds)
            raise BindgenError(f"several worlds ({names}): choose one with --world")
        world = resolve.worlds[0].name
    return generate_module(resolve, world)
