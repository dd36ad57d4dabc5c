"""`astrid-host tool`, `trigger` and `inspect` on an upstream Astrid capsule: the real SDK 0.7.2
fetch capsule in a directory with its own, unmodified Capsule.toml (net: example.com,
example.net). example.com is pointed at a loopback server with --resolve, and reached only
through the operator's --local allowance, so nothing leaves the machine."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from astrid_host._cli import main
from tests.cli._support import loopback_server
from tests.support.paths import ROOT, built_guest

pytestmark = pytest.mark.guest("rust-astrid-fetch")


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(ROOT / "build" / "cache"))


@pytest.fixture
def capsule(tmp_path: Path) -> Path:
    """The fetch capsule's directory as upstream lays it out."""
    shutil.copyfile(built_guest("rust-astrid-fetch.wasm"), tmp_path / "astrid_fetch.wasm")
    shutil.copyfile(ROOT / "guests/rust/astrid-fetch/Capsule.toml", tmp_path / "Capsule.toml")
    return tmp_path


@pytest.fixture
def port() -> Iterator[int]:
    with loopback_server() as p:
        yield p


def reach(port: int) -> list[str]:
    """example.com → the loopback server, allowed by the operator's local entry."""
    return ["--resolve", "example.com=127.0.0.1", "--local", f"example.com=127.0.0.1:{port}"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_tool_prints_the_result_and_exits_0(capsule: Path, port: int,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "tool", str(capsule), "fetch", *reach(port),
                           "--args", json.dumps({"url": f"http://example.com:{port}/"}))
    assert status == 0, err
    value = json.loads(out)
    assert value["status"] == 200 and value["body"] == "hello from loopback"
    assert "decision=allow" in err


def test_tool_json_and_a_tool_error_exit_1(capsule: Path, port: int,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # Without --local, example.com's loopback answer is a prohibited address.
    status, out, _ = run(capsys, "tool", str(capsule / "Capsule.toml"), "fetch", "--json",
                         "--resolve", "example.com=127.0.0.1",
                         "--args", json.dumps({"url": f"http://example.com:{port}/"}))
    doc = json.loads(out)
    assert status == 1 and doc["is_error"] and not doc["ok"]
    assert "AirlockRejected" in doc["content"]
    assert any("decision=deny" in line for line in doc["decisions"])


def test_allow_narrows_the_manifest_net(capsule: Path, port: int,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "tool", str(capsule), "fetch", "--json", *reach(port),
                         "--allow", "http://example.net:*",
                         "--args", json.dumps({"url": f"http://example.com:{port}/"}))
    doc = json.loads(out)
    assert status == 1 and "CapabilityDenied" in doc["content"], doc


def test_trigger_prints_the_result_and_every_published_message(
        capsule: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "trigger", str(capsule), "tool_describe")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("result: continue {")
    assert lines[1].startswith("published tool.v1.response.describe.self: {")
    status, out, _ = run(capsys, "trigger", str(capsule), "tool_describe", "--json")
    doc = json.loads(out)
    assert [m["topic"] for m in doc["messages"]] == ["tool.v1.response.describe.self"]


def test_a_denied_trigger_exits_1(capsule: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The SDK cannot read this payload as a tool call: it answers deny and publishes nothing.
    status, out, _ = run(capsys, "trigger", str(capsule), "tool_execute_fetch", "--json",
                         "--payload", "{}")
    doc = json.loads(out)
    assert status == 1 and doc["action"] == "deny" and doc["messages"] == []


@pytest.mark.parametrize(("argv", "status"), [
    (["--args", "not json"], 2),
    (["--args", "[1]"], 2),
    (["--config", "novalue"], 2),
    (["--allow", "not a rule"], 2),
    (["--config", "nonsense=1"], 3),  # not declared in [env]: a load error
])
def test_usage_and_load_errors(capsule: Path, argv: list[str], status: int,
                               capsys: pytest.CaptureFixture[str]) -> None:
    got, _, err = run(capsys, "tool", str(capsule), "fetch", *argv)
    assert got == status and err.startswith("astrid-host tool: ")


def test_a_missing_component_or_a_plain_component_path(
        capsule: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "tool", str(capsule / "astrid_fetch.wasm"), "fetch")[0] == 2
    (capsule / "astrid_fetch.wasm").unlink()
    status, _, err = run(capsys, "tool", str(capsule), "fetch")
    assert status == 3 and "astrid_fetch.wasm" in err


def test_inspect_lists_hooks_tools_and_grants(capsule: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "inspect", str(capsule), "--json")
    assert status == 0
    doc = json.loads(out)
    astrid = doc["astrid"]
    assert [t["name"] for t in astrid["tools"]] == ["fetch"] and astrid["tools"][0]["mutable"]
    assert {h["action"] for h in astrid["hooks"]} == {"tool_execute_fetch", "tool_describe"}
    assert astrid["net"] == ["example.com", "example.net"]
    assert doc["unsatisfied_imports"] == []
    status, out, _ = run(capsys, "inspect", str(capsule))
    assert "upstream Astrid capsule astrid-fetch 0.1.0" in out and "    fetch (mutable)" in out


def test_run_points_an_upstream_capsule_at_tool_and_trigger(
        capsule: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "run", str(capsule))
    assert status == 2 and "astrid-host tool" in err


@pytest.mark.guest("rust-astrid-http-all")
def test_inspect_marks_astrid_io_as_provided(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "inspect", str(built_guest("rust-astrid-http-all.wasm")),
                         "--json")
    doc = json.loads(out)
    assert status == 0 and doc["unsatisfied_imports"] == []
    assert {"io", "net", "sys"} <= set(doc["capabilities"])
