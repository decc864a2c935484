"""configure_logging: plain and JSON lines, trace context on every record, quiet noisy libraries."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.logs import NOISY_LOGGERS, configure_logging
from resonanz_sdk.tracing import new_traceparent, trace_id_of, use_traceparent


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_trace_and_extras() -> None:
    stream = io.StringIO()
    configure_logging("info", json=True, stream=stream)
    traceparent = new_traceparent()
    log = logging.getLogger("resonanz.test")
    with use_traceparent(traceparent):
        log.info("published %s", "post-1", extra={"network": "simulated", "attempt": 2})
    log.debug("not shown at INFO")
    log.warning("outside any trace")

    first, second = (json.loads(line) for line in _lines(stream))
    assert first["message"] == "published post-1"
    assert first["level"] == "INFO"
    assert first["logger"] == "resonanz.test"
    assert first["traceparent"] == traceparent
    assert first["trace_id"] == trace_id_of(traceparent)
    assert (first["network"], first["attempt"]) == ("simulated", 2)
    assert first["time"].endswith("+00:00")
    assert second["message"] == "outside any trace"
    assert "traceparent" not in second


def test_json_exception_is_one_line_with_traceback() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("resonanz.test").exception("handler failed")
    (line,) = _lines(stream)
    entry = json.loads(line)
    assert "Traceback" in entry["exception"]
    assert "ValueError: broken" in entry["exception"]


def test_plain_lines_show_the_trace_id() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", json=False, stream=stream)
    traceparent = new_traceparent()
    with use_traceparent(traceparent):
        logging.getLogger("resonanz.test").debug("hello")
    (line,) = _lines(stream)
    assert line.endswith(f"DEBUG   resonanz.test [trace={trace_id_of(traceparent)}]: hello")


def test_reconfiguring_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", json=False, stream=first)
    configure_logging("INFO", json=True, stream=second)
    logging.getLogger("resonanz.test").info("once")
    assert first.getvalue() == ""
    assert json.loads(_lines(second)[0])["message"] == "once"


@pytest.mark.parametrize(("level", "noisy"), [("DEBUG", logging.WARNING), ("ERROR", logging.ERROR)])
def test_noisy_libraries_are_set_explicitly(level: str, noisy: int) -> None:
    stream = io.StringIO()
    configure_logging(level, json=False, stream=stream)
    assert logging.getLogger().level == logging.getLevelNamesMapping()[level]
    for name in ("aiokafka", "faust", "mode"):
        assert logging.getLogger(name).level == noisy
    logging.getLogger("aiokafka.conn").info("chatter")
    assert stream.getvalue() == ""


def test_unknown_level_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="LOUD"):
        configure_logging("LOUD", json=False)
