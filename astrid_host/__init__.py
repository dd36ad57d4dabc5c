"""astrid-host: run untrusted WebAssembly capsules and give them guarded outgoing HTTP.

Everything public is re-exported here; the modules behind it are private. The names fall in
five groups: the runtime (``Host``, ``Capsule``, their errors), the egress guard (classifier,
URL parsing, policy, decisions, resolvers), the HTTP engine and its values (``CapsuleHttp``,
``Request``, ``Response``, ``ErrorCode``), secrets and the audit trail (``Secret``,
``AuditTrail``, the sinks and records), and manifests/bindings.
"""

# The composition root: a Host given no http_factory uses the network layer's CapsuleHttp.
from astrid_host import _compose as _compose
from astrid_host._audit._file import Durability as Durability
from astrid_host._audit._file import FileSink as FileSink
from astrid_host._audit._sink import AuditError as AuditError
from astrid_host._audit._sink import AuditSink as AuditSink
from astrid_host._audit._sink import MemorySink as MemorySink
from astrid_host._audit._trail import AuditTrail as AuditTrail
from astrid_host._bindgen import BindgenError as BindgenError
from astrid_host._bindgen import generate as generate_bindings
from astrid_host._core._astrid_protocol import CapsuleDescription as CapsuleDescription
from astrid_host._core._astrid_protocol import CapsuleProtocolError as CapsuleProtocolError
from astrid_host._core._astrid_protocol import HookResult as HookResult
from astrid_host._core._astrid_protocol import InvalidToolCall as InvalidToolCall
from astrid_host._core._astrid_protocol import ToolCallDenied as ToolCallDenied
from astrid_host._core._astrid_protocol import ToolDescriptor as ToolDescriptor
from astrid_host._core._astrid_protocol import ToolFailed as ToolFailed
from astrid_host._core._astrid_protocol import ToolResult as ToolResult
from astrid_host._core._astrid_protocol import TriggerResult as TriggerResult
from astrid_host._core._astrid_state import Published as Published
from astrid_host._core._audit_records import Chain as Chain
from astrid_host._core._audit_records import CompletionRecord as CompletionRecord
from astrid_host._core._audit_records import DecisionRecord as DecisionRecord
from astrid_host._core._classify import InvalidAddress as InvalidAddress
from astrid_host._core._classify import IpVerdict as IpVerdict
from astrid_host._core._classify import classify_ip as classify_ip
from astrid_host._core._contracts import HttpBackend as HttpBackend
from astrid_host._core._decision import EgressDecision as EgressDecision
from astrid_host._core._decision import Resolution as Resolution
from astrid_host._core._decision import log_decision as log_decision
from astrid_host._core._limits import Limits as Limits
from astrid_host._core._manifest import Manifest as Manifest
from astrid_host._core._manifest import ManifestError as ManifestError
from astrid_host._core._manifest import load_manifest as load_manifest
from astrid_host._core._model import ErrorCode as ErrorCode
from astrid_host._core._model import HttpError as HttpError
from astrid_host._core._model import Request as Request
from astrid_host._core._model import RequestOptions as RequestOptions
from astrid_host._core._model import Response as Response
from astrid_host._core._model import ResponseMeta as ResponseMeta
from astrid_host._core._model import TimeoutPhase as TimeoutPhase
from astrid_host._core._output import CallOutput as CallOutput
from astrid_host._core._policy import EgressPolicy as EgressPolicy
from astrid_host._core._policy import PolicyDecision as PolicyDecision
from astrid_host._core._policy import check_url as check_url
from astrid_host._core._policy_rules import PolicyError as PolicyError
from astrid_host._core._ranges import Reason as Reason
from astrid_host._core._secret_value import Secret as Secret
from astrid_host._core._secret_value import SecretError as SecretError
from astrid_host._core._url import InvalidUrl as InvalidUrl
from astrid_host._core._url import ParsedUrl as ParsedUrl
from astrid_host._core._url import parse_url as parse_url
from astrid_host._core._witschema import Err as Err
from astrid_host._core._witschema import Ok as Ok
from astrid_host._core._witschema import Some as Some
from astrid_host._net._backend import PinnedBackend as PinnedBackend
from astrid_host._net._backend import Resolver as Resolver
from astrid_host._net._backend import StaticResolver as StaticResolver
from astrid_host._net._backend import SystemResolver as SystemResolver
from astrid_host._net._client import CapsuleHttp as CapsuleHttp
from astrid_host._net._client import IncomingStream as IncomingStream
from astrid_host._net._client import OutgoingUpload as OutgoingUpload
from astrid_host._wasm._bindings_rt import WithOutput as WithOutput
from astrid_host._wasm._capsule import Capsule as Capsule
from astrid_host._wasm._convert import UnrepresentableValue as UnrepresentableValue
from astrid_host._wasm._errors import CapsuleClosed as CapsuleClosed
from astrid_host._wasm._errors import CapsuleError as CapsuleError
from astrid_host._wasm._errors import CapsuleLoadError as CapsuleLoadError
from astrid_host._wasm._errors import CapsuleRunError as CapsuleRunError
from astrid_host._wasm._errors import CapsuleTrap as CapsuleTrap
from astrid_host._wasm._errors import EventLoopError as EventLoopError
from astrid_host._wasm._errors import ExportNotFound as ExportNotFound
from astrid_host._wasm._errors import StaleResource as StaleResource
from astrid_host._wasm._host import CapsuleContext as CapsuleContext
from astrid_host._wasm._host import Host as Host

__all__ = [
    "AuditError",
    "AuditSink",
    "AuditTrail",
    "BindgenError",
    "CallOutput",
    "Capsule",
    "CapsuleClosed",
    "CapsuleContext",
    "CapsuleDescription",
    "CapsuleError",
    "CapsuleHttp",
    "CapsuleLoadError",
    "CapsuleProtocolError",
    "CapsuleRunError",
    "CapsuleTrap",
    "Chain",
    "CompletionRecord",
    "DecisionRecord",
    "Durability",
    "EgressDecision",
    "EgressPolicy",
    "Err",
    "ErrorCode",
    "EventLoopError",
    "ExportNotFound",
    "FileSink",
    "HookResult",
    "Host",
    "HttpBackend",
    "HttpError",
    "IncomingStream",
    "InvalidAddress",
    "InvalidToolCall",
    "InvalidUrl",
    "IpVerdict",
    "Limits",
    "Manifest",
    "ManifestError",
    "MemorySink",
    "Ok",
    "OutgoingUpload",
    "ParsedUrl",
    "PinnedBackend",
    "PolicyDecision",
    "PolicyError",
    "Published",
    "Reason",
    "Request",
    "RequestOptions",
    "Resolution",
    "Resolver",
    "Response",
    "ResponseMeta",
    "Secret",
    "SecretError",
    "Some",
    "StaleResource",
    "StaticResolver",
    "SystemResolver",
    "TimeoutPhase",
    "ToolCallDenied",
    "ToolDescriptor",
    "ToolFailed",
    "ToolResult",
    "TriggerResult",
    "UnrepresentableValue",
    "WithOutput",
    "check_url",
    "classify_ip",
    "generate_bindings",
    "load_manifest",
    "log_decision",
    "parse_url",
]
__version__ = "0.1.0"
