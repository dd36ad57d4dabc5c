"""`astrid-host run --resolve HOST=IP`: test a capsule against a local server under the name
it will use in production, without touching DNS and without weakening the guard."""

from __future__ import annotations

import json
from ipaddress import ip_address

import pytest

from astrid_host import HttpError, Resolver
from astrid_host._cli import main
from astrid_host._cli._resolve import OverrideResolver, parse_resolve
from tests.cli._support import example_capsule, loopback_server

NAME = "api.capsule-test.example"


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli._support import ROOT

    monkeypatch.setenv("ASTRID_CACHE_DIR", str(ROOT / "build" / "cache"))


def _input(port: int) -> str:
    return json.dumps({"url": f"http://{NAME}:{port}/hello"})


def test_resolve_with_a_local_allowance_reaches_the_local_server(
        capsys: pytest.CaptureFixture[str]) -> None:
    capsule = example_capsule()
    with loopback_server() as port:
        code = main(["run", str(capsule), "--resolve", f"{NAME}=127.0.0.1",
                     "--allow", f"http://{NAME}:{port}", "--local", f"{NAME}=127.0.0.1:{port}",
                     "--input", _input(port)])
    out, err = capsys.readouterr()
    assert code == 0, err
    answer = json.loads(out)
    assert answer["ok"] is True and answer["status"] == 200
    assert "decision=allow" in err and "127.0.0.1" in err


def test_resolve_alone_does_not_open_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    # The answer comes from --resolve, and the guard still refuses it: no allowance, no entry.
    capsule = example_capsule()
    with loopback_server() as port:
        code = main(["run", str(capsule), "--resolve", f"{NAME}=127.0.0.1",
                     "--allow", f"http://{NAME}:{port}", "--input", _input(port), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert json.loads(doc["output"])["error"] == "destination-prohibited"
    assert doc["denied"] == 1 and any("loopback" in line for line in doc["decisions"])


@pytest.mark.parametrize("entry", ["no-equals-sign", f"{NAME}=", f"{NAME}=not-an-ip"])
def test_a_malformed_resolve_entry_is_exit_2(entry: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "capsule.wasm", "--resolve", entry])
    assert code == 2
    assert "--resolve" in capsys.readouterr().err


class _Recording(Resolver):
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[object]:  # type: ignore[override]
        self.asked.append(host)
        return [ip_address("192.0.2.7")]


async def test_override_resolver_answers_listed_names_and_passes_the_rest_on() -> None:
    fallback = _Recording()
    resolver = OverrideResolver(parse_resolve([f"{NAME.upper()}.=127.0.0.1,::1"]), fallback)
    assert await resolver.resolve(NAME, 80) == [ip_address("127.0.0.1"), ip_address("::1")]
    assert await resolver.resolve("other.example", 80) == [ip_address("192.0.2.7")]
    assert fallback.asked == ["other.example"]


async def test_static_table_misses_are_dns_errors_not_fallbacks_when_listed() -> None:
    resolver = OverrideResolver({NAME: []}, _Recording())
    with pytest.raises(HttpError) as info:
        await resolver.resolve(NAME, 80)
    assert info.value.code.case == "dns-error"
