"""Guest for the `echo` test world: every export hands its argument straight back.

Results passed in arrive as `Ok`/`Err` values; returning one means returning the ok value
or raising the `Err`, which is how componentize-py represents a result return.
"""

from typing import Any

import wit_world
from componentize_py_types import Err
from echo_resources import EchoResources as EchoResources  # the exported interface


def _unwrap(v: Any) -> Any:
    if isinstance(v, Err):
        raise v
    return v.value


class WitWorld(wit_world.WitWorld):
    def echo_bool(self, v: Any) -> Any:
        return v

    echo_s8 = echo_u8 = echo_s16 = echo_u16 = echo_s32 = echo_u32 = echo_bool
    echo_s64 = echo_u64 = echo_f32 = echo_f64 = echo_char = echo_string = echo_bool
    echo_bytes = echo_strings = echo_matrix = echo_tuple = echo_point = echo_bool
    echo_shape_info = echo_kind = echo_permissions = echo_shape = echo_token = echo_bool
    echo_signal = echo_nested = echo_option = echo_option_point = echo_bool
    echo_option_option = echo_options = echo_results = echo_awkward = echo_bool

    def echo_result(self, v: Any) -> Any:
        return _unwrap(v)

    echo_result_same = echo_result_no_ok = echo_result_no_err = echo_result
    echo_result_empty = echo_result_rich = echo_result_option = echo_result

    def echo_many(self, a: Any, b: Any, c: Any) -> Any:
        return (a, b, c)

    def ping(self) -> None:
        return None

    def fail_with(self, message: str) -> None:
        if message:
            raise Err(message)


