"""What the Astrid front keeps for one capsule: its configuration, its publish ACL, and the
messages it published during the current call, each bounded.

Pure: the wasm layer's `astrid:sys` / `astrid:ipc` handlers read and append to it; the caller
(``Capsule.trigger``) takes the messages after each call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from astrid_host._core._astrid_kv import KvStore
from astrid_host._core._astrid_manifest import TopicAcl, TopicVerdict

__all__ = ["MAX_MESSAGES", "MAX_PAYLOAD_BYTES", "MAX_RANDOM_BYTES", "AstridState",
           "PublishRefused", "Published"]

#: `random-bytes` longer than this is `too-large` (upstream's limit).
MAX_RANDOM_BYTES = 4096
#: One published payload (JSON text) at most this many bytes: `invalid-input` beyond.
MAX_PAYLOAD_BYTES = 1024 * 1024
#: Messages one call may publish: `quota` beyond.
MAX_MESSAGES = 256
#: A log line is cut to this many characters.
MAX_LOG_CHARS = 8192


@dataclass(frozen=True)
class Published:
    """One message a capsule published."""

    topic: str
    payload: str


class PublishRefused(Exception):
    """``publish`` refused: ``arm`` is `astrid:ipc`'s error-code case."""

    def __init__(self, arm: str, detail: str) -> None:
        super().__init__(detail)
        self.arm = arm


@dataclass
class AstridState:
    """One Astrid capsule's host-side state.

    config: what `get-config` answers (the manifest's `[env]` resolved with the operator's
        values); a key not in it reads as `none`.
    publish: the topic ACL (``None``: the capsule may publish nothing).
    kv: the capsule's `astrid:kv` store (``None``: every kv call is ``unknown``).
    """

    name: str
    config: Mapping[str, str] = field(default_factory=dict)
    publish: TopicAcl | None = None
    kv: KvStore | None = None
    messages: list[Published] = field(default_factory=list)

    def take_messages(self) -> list[Published]:
        """The messages published since the last take, in order."""
        out, self.messages = self.messages, []
        return out

    def publish_message(self, topic: str, payload: str) -> None:
        """Record ``payload`` on ``topic``; raises :class:`PublishRefused`."""
        if len(payload.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD_BYTES:
            raise PublishRefused("invalid-input",
                                 f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
        verdict = TopicVerdict.DENIED if self.publish is None \
            else self.publish.check_publish(topic)
        if verdict is TopicVerdict.INVALID:
            raise PublishRefused("invalid-input", f"malformed topic {topic!r}")
        if verdict is not TopicVerdict.ALLOWED:
            raise PublishRefused("capability-denied",
                                 f"the manifest does not allow publishing on {topic!r}")
        if len(self.messages) >= MAX_MESSAGES:
            raise PublishRefused("quota", f"more than {MAX_MESSAGES} messages in one call")
        self.messages.append(Published(topic, payload))
