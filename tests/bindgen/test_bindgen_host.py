"""Host models (`astrid-host bindgen --format host`) of several WIT packages at once.

A synthetic WIT: package `demo:app` serves `api`, which uses a variant and a resource of the
dependency package `demo:io` (served as `streams`) — the shape of `astrid:http@1.1.0` with
`astrid:io`. Each package gets one model module; `demo:app`'s imports `demo:io`'s types instead
of generating them again, and the signatures it carries are those wasmtime reports for a
component built from the same WIT.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from wasmtime import Config, Engine, Store
from wasmtime.component import Component, Linker

from astrid_host._bindgen import BindgenError, generate, load
from astrid_host._bindgen._hostgen import HostModelSpec, generate_host_model
from astrid_host._bindgen._model import Resolve
from astrid_host._wasm._convert import lift, lower
from astrid_host._wasm._dispatch import HostInterface, link_interface
from astrid_host._wasm._typeinfo import check_imports

pytestmark = pytest.mark.skipif(shutil.which("wasm-tools") is None,
                                reason="wasm-tools not on PATH")

APP_WIT = """\
package demo:app@1.0.0;

interface api {
    use demo:io/streams@2.0.0.{io-error, reader};

    /// A unit of work.
    record job {
        /// Its number.
        id: u64,
        tags: list<string>,
        payload: option<list<u8>>,
        urgent: bool,
    }

    /// Why the app refused.
    variant app-error {
        io(io-error),
        refused(job),
        busy,
        limit(u32),
    }

    enum level { low, high }

    flags perms { read, write }

    resource task {
        level: func() -> level;
        cancel: func(p: perms) -> result<_, app-error>;
    }

    submit: func(j: job) -> result<task, app-error>;
    attach: func(t: borrow<task>, r: borrow<reader>) -> result<u32, app-error>;
}

world app {
    import api;
}
"""

IO_WIT = """\
package demo:io@2.0.0;

interface streams {
    variant io-error { closed, failed(string) }

    resource reader {
        read: func(n: u32) -> result<list<u8>, io-error>;
    }

    open: func(path: string) -> result<reader, io-error>;
}
"""

IO = HostModelSpec("demo:io@2.0.0", ("streams",), "hostgen_demo_io.py")
APP = HostModelSpec("demo:app@1.0.0", ("api",), "hostgen_demo_app.py")


def _write_wit(root: Path, app: str = APP_WIT) -> Path:
    (root / "deps" / "io").mkdir(parents=True)
    (root / "app.wit").write_text(app)
    (root / "deps" / "io" / "streams.wit").write_text(IO_WIT)
    return root


def _component(wit: Path, out: Path) -> Path:
    """A component importing world `app` of ``wit`` (a dummy core module: never run)."""
    core = out.with_suffix(".core.wasm")
    subprocess.run(["wasm-tools", "component", "embed", "--dummy", str(wit), "-w", "app",
                    "-o", str(core)], check=True, capture_output=True)
    subprocess.run(["wasm-tools", "component", "new", str(core), "-o", str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def wit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_wit(tmp_path_factory.mktemp("wit"))


@pytest.fixture(scope="module")
def resolve(wit_dir: Path) -> Resolve:
    return load(wit_dir)


@pytest.fixture(scope="module")
def models(resolve: Resolve, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[tuple[ModuleType, ModuleType]]:
    out = tmp_path_factory.mktemp("models")
    for spec in (IO, APP):
        (out / spec.module).write_text(generate_host_model(resolve, spec, [IO, APP]))
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("hostgen_demo_io"), importlib.import_module(
            "hostgen_demo_app")
    finally:
        sys.path.remove(str(out))
        for name in ("hostgen_demo_io", "hostgen_demo_app"):
            sys.modules.pop(name, None)


def test_a_wit_with_several_packages_needs_a_choice(resolve: Resolve) -> None:
    assert set(resolve.packages) == {"demo:app@1.0.0", "demo:io@2.0.0"}
    with pytest.raises(BindgenError, match="several packages"):
        generate(resolve, fmt="host")
    with pytest.raises(BindgenError, match=r"no package 'demo:nope@1\.0\.0'"):
        generate(resolve, fmt="host", package="demo:nope@1.0.0")


def test_each_package_gets_its_own_module_and_shares_the_others_types(
        resolve: Resolve, models: tuple[ModuleType, ModuleType]) -> None:
    io, app = models
    source = generate_host_model(resolve, APP, [IO, APP])
    assert "from hostgen_demo_io import IO_ERROR_TY, READER_BORROW, READER_OWN, IoError" \
        in source
    assert "class IoError" not in source
    assert app.AppError.CASES["io"] is io.IoError  # one class per WIT type
    assert app.API.func("attach").params[1][1] is io.READER_BORROW
    # The resource `api` uses is exported under its name there, as the same type.
    assert dict(app.API.resources)["reader"] is io.READER_OWN


def test_without_a_model_of_the_other_package_its_types_are_generated_here(
        resolve: Resolve) -> None:
    alone = generate_host_model(resolve, APP, [])
    assert "class IoError(wit.TaggedValue):" in alone and "import hostgen" not in alone


def test_a_type_missing_from_the_other_packages_model_is_an_error(resolve: Resolve) -> None:
    serves_nothing = HostModelSpec("demo:io@2.0.0", (), "hostgen_demo_io.py")
    with pytest.raises(BindgenError, match=r"io-error of demo:io@2\.0\.0 is not in its host model"):
        generate_host_model(resolve, APP, [serves_nothing])


def test_generation_is_deterministic(resolve: Resolve) -> None:
    assert generate_host_model(resolve, APP, [IO, APP]) == generate_host_model(
        resolve, APP, [IO, APP])


def test_records_default_their_empty_trailing_fields_and_variants_validate(
        models: tuple[ModuleType, ModuleType]) -> None:
    io, app = models
    assert app.Job(7) == app.Job(7, (), None, False)
    refused = app.AppError.refused(7, ("a",), None, True)
    assert refused == app.AppError("refused", app.Job(7, ("a",), None, True))
    assert app.AppError.busy().payload is None
    assert app.AppError.io(io.IoError.failed("disk")).payload.payload == "disk"
    with pytest.raises(TypeError, match="app-error 'limit' needs a int payload"):
        app.AppError("limit", "many")
    with pytest.raises(TypeError, match="takes no payload"):
        app.AppError("busy", 1)
    with pytest.raises(ValueError, match="unknown app-error case 'nope'"):
        app.AppError("nope")


def test_values_round_trip_through_the_converter(models: tuple[ModuleType, ModuleType]) -> None:
    """Invariant: lift(lower(v)) == v for values of the generated types."""
    io, app = models
    job = app.Job(2**64 - 1, ("x", "y"), b"\x00\xff", True)
    assert lift(app.JOB_TY, lower(app.JOB_TY, job)) == job
    for err in (app.AppError.refused(1, (), None, False), app.AppError.busy(),
                app.AppError.io(io.IoError.closed()), app.AppError.limit(9)):
        assert lift(app.APP_ERROR_TY, lower(app.APP_ERROR_TY, err)) == err
    perms = app.Perms.READ | app.Perms.WRITE
    assert lift(app.PERMS_TY, lower(app.PERMS_TY, perms)) == perms


def test_signatures_are_what_wasmtime_reports_for_a_component_of_the_wit(
        wit_dir: Path, tmp_path: Path, models: tuple[ModuleType, ModuleType]) -> None:
    io, app = models
    engine = Engine(Config())
    component = Component.from_file(engine, str(_component(wit_dir, tmp_path / "app.wasm")))
    assert check_imports(component, engine, [io.STREAMS, app.API]) is None
    # Both interfaces link into one linker and a component importing them instantiates:
    # `api`'s `reader` is `streams`' resource type.
    linker = Linker(engine)
    for model in (io.STREAMS, app.API):
        link_interface(linker, HostInterface(
            model, {f.name: _never for f in model.functions}, error_value=_never,
            guest_error=_never))
    linker.instantiate(Store(engine), component)


def test_a_guest_built_from_other_types_is_refused(
        tmp_path: Path, models: tuple[ModuleType, ModuleType]) -> None:
    io, app = models
    changed = _write_wit(tmp_path / "wit", APP_WIT.replace("id: u64", "id: u32"))
    engine = Engine(Config())
    component = Component.from_file(engine, str(_component(changed, tmp_path / "app.wasm")))
    problem = check_imports(component, engine, [io.STREAMS, app.API])
    # `job` changed: every function carrying it (through `app-error`) differs; the first found
    # is reported.
    assert problem is not None and "is declared with other types than in the WIT of " \
        "demo:app/api@1.0.0" in problem


def _never(*args: object) -> object:
    raise AssertionError("not called: the dummy component never runs")
