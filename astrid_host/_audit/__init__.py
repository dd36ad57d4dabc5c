"""The audit trail's sinks: where sealed records go (files, memory, a platform's own sink).

Blocking file I/O, no async framework: the engine calls a sink directly when its
``blocking`` attribute is false, or from a worker thread when it is true (an ``fsync`` costs
milliseconds). Records and the chain are pure logic in ``astrid_host._core._audit_records``,
their verification in ``astrid_host._core._audit_verify``.
"""
