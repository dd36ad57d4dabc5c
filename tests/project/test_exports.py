"""The public API: exactly the names in ``astrid_host.__all__``, each documented, none private.

Like trio's test_exports: adding or removing a public name must be a deliberate change here.
"""

from __future__ import annotations

import inspect

import astrid_host

EXPECTED = {
    # runtime
    "Host", "Capsule", "CapsuleContext", "HttpBackend", "Limits", "CallOutput",
    "CapsuleError", "CapsuleTrap", "CapsuleClosed", "CapsuleLoadError", "CapsuleRunError",
    "ExportNotFound", "StaleResource", "EventLoopError",
    # egress guard
    "classify_ip", "IpVerdict", "InvalidAddress", "Reason", "parse_url", "ParsedUrl",
    "InvalidUrl", "EgressPolicy", "PolicyDecision", "PolicyError", "check_url",
    "EgressDecision", "Resolution", "log_decision", "PinnedBackend", "Resolver",
    "StaticResolver", "SystemResolver",
    # HTTP engine and the values that cross the boundary
    "CapsuleHttp", "IncomingStream", "OutgoingUpload", "Request", "RequestOptions",
    "Response", "ResponseMeta", "ErrorCode", "HttpError", "TimeoutPhase",
    # secrets and the audit trail
    "Secret", "SecretError", "AuditTrail", "AuditSink", "AuditError", "FileSink", "MemorySink",
    "Durability", "Chain", "DecisionRecord", "CompletionRecord",
    # upstream Astrid capsules (docs/astrid.md)
    "ToolResult", "TriggerResult", "HookResult", "Published", "ToolCallDenied",
    "CapsuleProtocolError", "InvalidToolCall", "ToolFailed", "CapsuleDescription",
    "ToolDescriptor",
    # manifests and bindings
    "Manifest", "ManifestError", "load_manifest", "generate_bindings", "BindgenError",
    "Err", "Ok", "Some", "UnrepresentableValue", "WithOutput",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(astrid_host.__all__) == EXPECTED
    assert len(astrid_host.__all__) == len(EXPECTED), "duplicates in __all__"


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in astrid_host.__all__:
        obj = getattr(astrid_host, name)
        assert inspect.getdoc(obj), f"astrid_host.{name} has no docstring"


def test_no_public_name_leaks_from_the_private_modules() -> None:
    public = {n for n in vars(astrid_host) if not n.startswith("_")}
    # Subpackages imported as a side effect are the only extra attributes allowed.
    assert public - set(astrid_host.__all__) <= {"bindings"}
