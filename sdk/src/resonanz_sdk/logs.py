"""Process-wide logging: plain lines for people or one JSON object per line for log collectors.

``configure_logging(settings.log_level, settings.log_json)`` is called once by every entry point. Each
record carries the current W3C ``traceparent`` (and its trace id) when there is one, so logs line up
with traces across gRPC and Kafka. Noisy libraries (aiokafka, faust, mode, grpc, asyncio) are set to
WARNING unless the level asked for is stricter.
"""

from __future__ import annotations

import json as _json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.tracing import current_traceparent, trace_id_of

__all__ = ["NOISY_LOGGERS", "JsonFormatter", "TraceContextFilter", "configure_logging"]

#: Libraries that log too much at INFO; they get WARNING (or the stricter configured level).
NOISY_LOGGERS = ("aiokafka", "faust", "mode", "grpc", "asyncio")
_PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(trace_suffix)s: %(message)s"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged too.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "traceparent", "trace_id", "trace_suffix", "taskName"}
)


class TraceContextFilter(logging.Filter):
    """Adds ``traceparent``, ``trace_id`` and ``trace_suffix`` (" [trace=...]" or "") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        traceparent = current_traceparent()
        trace_id = trace_id_of(traceparent) if traceparent else None
        record.traceparent = traceparent
        record.trace_id = trace_id
        record.trace_suffix = f" [trace={trace_id}]" if trace_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, trace, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        traceparent = getattr(record, "traceparent", None)
        if traceparent:
            entry["traceparent"] = traceparent
            entry["trace_id"] = getattr(record, "trace_id", None)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _json.dumps(entry, default=str, ensure_ascii=False)


class _ResonanzHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installed, so reconfiguring replaces it instead of adding one."""


def configure_logging(level: str, json: bool, *, stream: TextIO | None = None) -> None:
    """Configure the root logger and the noisy libraries; safe to call again (it replaces its handler).

    ``level`` is a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL; any case). ``stream`` defaults to
    stderr. Raises ConfigurationError for an unknown level.
    """
    numeric = logging.getLevelNamesMapping().get(level.strip().upper())
    if numeric is None:
        raise ConfigurationError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    handler = _ResonanzHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(_PLAIN_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ResonanzHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
