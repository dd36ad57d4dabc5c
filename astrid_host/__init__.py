"""astrid-host: run untrusted WebAssembly capsules and give them guarded outgoing HTTP.

Everything public is re-exported here; the modules behind it are private. The names fall in
four groups: the runtime (``Host``, ``Capsule``, their errors), the egress guard (classifier,
URL parsing, policy, decisions, resolvers), the HTTP engine and its values (``CapsuleHttp``,
``Request``, ``Response``, ``ErrorCode``), and manifests/bindings.
"""

# The composition root: a Host given no http_factory uses the network layer's CapsuleHttp.
from astrid_host import _compose as _compose
from astrid_host._bindgen import BindgenError as BindgenError
from astrid_host._bindgen import generate as generate_bindings
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
from astrid_host._core._policy import EgressPolicy as EgressPolicy
from astrid_host._core._policy import PolicyDecision as PolicyDecision
from astrid_host._core._policy import PolicyError as PolicyError
from astrid_host._core._policy import check_url as check_url
from astrid_host._core._ranges import Reason as Reason
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
    "BindgenError",
    "Capsule",
    "CapsuleClosed",
    "CapsuleContext",
    "CapsuleError",
    "CapsuleHttp",
    "CapsuleLoadError",
    "CapsuleRunError",
    "CapsuleTrap",
    "EgressDecision",
    "EgressPolicy",
    "Err",
    "ErrorCode",
    "EventLoopError",
    "ExportNotFound",
    "HttpBackend",
    "HttpError",
    "Host",
    "IncomingStream",
    "InvalidAddress",
    "InvalidUrl",
    "IpVerdict",
    "Limits",
    "Manifest",
    "ManifestError",
    "Ok",
    "OutgoingUpload",
    "ParsedUrl",
    "PinnedBackend",
    "PolicyDecision",
    "PolicyError",
    "Reason",
    "Request",
    "RequestOptions",
    "Resolution",
    "Resolver",
    "Response",
    "ResponseMeta",
    "Some",
    "StaleResource",
    "StaticResolver",
    "SystemResolver",
    "TimeoutPhase",
    "UnrepresentableValue",
    "check_url",
    "classify_ip",
    "generate_bindings",
    "load_manifest",
    "log_decision",
    "parse_url",
]
__version__ = "0.1.0"
