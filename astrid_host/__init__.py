"""astrid-host: run untrusted WebAssembly capsules and give them guarded outgoing HTTP.

Everything public is re-exported here; the modules behind it are private.
"""

from astrid_host._core._limits import Limits as Limits
from astrid_host._core._model import ErrorCode as ErrorCode
from astrid_host._core._model import HttpError as HttpError

__all__ = ["ErrorCode", "HttpError", "Limits"]
__version__ = "0.1.0"
