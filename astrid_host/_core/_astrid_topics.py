"""Upstream Astrid's topics: the ``[publish]``/``[subscribe]`` ACLs and hook handler matching.

As upstream's kernel (``astrid-capsule`` 2026.10.1) does it: a trailing ``.*`` in an ACL covers
one or more further segments, a ``*`` elsewhere exactly one segment, otherwise the segment
counts must agree (:func:`acl_matches`). Hook handlers bound in ``[subscribe]`` match published
topics segment by segment only (:func:`handler_matches`). Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["MAX_TOPIC_BYTES", "MAX_TOPIC_SEGMENTS", "TopicAcl", "TopicVerdict", "acl_matches",
           "handler_matches"]

#: Upstream's limits on a topic (``astrid:ipc``): bytes and dot-separated segments.
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SEGMENTS = 8


class TopicVerdict(enum.Enum):
    """The answer to a publish or subscribe request; values are upstream's ``astrid:ipc`` error
    case names (``allowed`` aside)."""

    ALLOWED = "allowed"
    INVALID = "invalid-input"
    DENIED = "capability-denied"


@dataclass(frozen=True)
class TopicAcl:
    """The keys of ``[publish]`` or ``[subscribe]``: the topics a capsule may use."""

    patterns: tuple[str, ...] = ()

    def check_publish(self, topic: str) -> TopicVerdict:
        """Upstream's order: a malformed topic is ``invalid-input`` before the ACL is asked."""
        if not _topic_shape_ok(topic):
            return TopicVerdict.INVALID
        return self._acl(topic)

    def check_subscribe(self, pattern: str) -> TopicVerdict:
        """As :meth:`check_publish`; a subscription pattern may also end in ``*``, nowhere else."""
        if not _topic_shape_ok(pattern) or "*" in pattern.split(".")[:-1]:
            return TopicVerdict.INVALID
        return self._acl(pattern)

    def _acl(self, topic: str) -> TopicVerdict:
        if any(acl_matches(p, topic) for p in self.patterns):
            return TopicVerdict.ALLOWED
        return TopicVerdict.DENIED


def _segments_ok(topic: str) -> bool:
    return bool(topic) and all(topic.split("."))


def _topic_shape_ok(topic: str) -> bool:
    return (len(topic.encode()) <= MAX_TOPIC_BYTES and _segments_ok(topic)
            and topic.count(".") < MAX_TOPIC_SEGMENTS)


def acl_matches(pattern: str, topic: str) -> bool:
    """Upstream's ACL matcher: may ``pattern`` (a ``[publish]``/``[subscribe]`` key) cover
    ``topic`` (a published topic, or a pattern a capsule subscribes with)?

    A trailing ``.*`` covers one or more further segments at any depth; ``*`` elsewhere covers
    exactly one segment; otherwise both have the same number of segments.
    """
    if not _segments_ok(pattern) or not _segments_ok(topic):
        return False
    want = pattern.split(".")
    have = topic.split(".")
    if want[-1] == "*" and len(want) > 1:
        return len(have) >= len(want) and _same_segments(want[:-1], have[:len(want) - 1])
    return _same_segments(want, have)


def handler_matches(pattern: str, topic: str) -> bool:
    """Upstream's handler matcher: same number of segments, ``*`` is exactly one segment."""
    if not _segments_ok(pattern) or not _segments_ok(topic):
        return False
    return _same_segments(pattern.split("."), topic.split("."))


def _same_segments(want: list[str], have: list[str]) -> bool:
    """Equally many segments, each equal or ``*`` in ``want``."""
    return len(want) == len(have) and all(p in ("*", t) for p, t in zip(want, have, strict=True))
