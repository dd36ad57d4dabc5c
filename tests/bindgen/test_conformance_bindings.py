"""The checked-in `conformance` bindings against every built conformance guest.

The conformance world passes the richest types of the package (request records with nested
options and variants, the 18-case `error-code`, lists of results) through the real runtime, so
it checks the generated code where users meet it: on a `Capsule` from `Host.load`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from astrid_host._core._model import ErrorCode, TimeoutPhase
from astrid_host.bindings import conformance as c
from tests.support.fakes import FakeHttp
from tests.support.paths import ROOT

GUESTS = [ROOT / "build" / "guests" / f"{lang}-conformance.wasm"
          for lang in ("rust", "python", "go")]

pytestmark = pytest.mark.guest("conformance")


@pytest.fixture(params=GUESTS, ids=lambda p: p.name.split("-")[0])
def guest(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    if not path.exists():
        pytest.skip(f"{path.name} not built (scripts/build_guests.py)")
    return path


def _req(url: str, **kw: object) -> c.Request:
    return c.Request(c.MethodGet(), url, [], **kw)  # type: ignore[arg-type]


async def test_conformance_bindings_drive_a_real_guest(guest: Path) -> None:
    host_module = pytest.importorskip("astrid_host._wasm._host")
    fake = FakeHttp(routes={
        "https://ok.test/": b"hello, bindings",
        "https://denied.test/": ErrorCode.denied("not on the list"),
        "https://slow.test/": ErrorCode.timeout(TimeoutPhase.FIRST_BYTE),
    })
    async with host_module.Host(cache_dir=ROOT / "build" / "cache",
                                http_factory=lambda ctx: fake) as host:
        capsule = await host.load(guest)
        async with capsule:
            tests = c.ConformanceWorld(capsule).conformance_tests

            response = await tests.fetch(_req(
                "https://ok.test/",
                options=c.RequestOptions(None, None, None, 5000, c.RedirectPolicy.MANUAL,
                                         None, None, https_only=True, decompress=False)))
            assert response.status == 200 and response.body == b"hello, bindings"
            assert response.meta.final_url == "https://ok.test/"

            with pytest.raises(c.Err) as err:
                await tests.fetch(_req("https://denied.test/"))
            assert err.value.value == c.ErrorCodeDenied("not on the list")

            with pytest.raises(c.Err) as err:
                await tests.fetch(_req("https://slow.test/"))
            assert err.value.value == c.ErrorCodeTimeout(c.TimeoutPhase.FIRST_BYTE)

            report = await tests.stream_all(_req("https://ok.test/"), 4)
            assert isinstance(report, c.StreamReport)
            assert report.total_bytes == len(b"hello, bindings") and report.status == 200

            outcomes = await tests.open_many(_req("https://ok.test/"), 2)
            assert outcomes == [c.Ok(200), c.Ok(200)]

    # What the host received is what the typed request said.
    sent = fake.requests[0]
    assert (sent.method, sent.url) == ("GET", "https://ok.test/")
    assert sent.options is not None and sent.options.total_timeout_ms == 5000
    assert sent.options.https_only is True
