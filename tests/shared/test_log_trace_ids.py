"""With tracing on, every JSON log line carries the trace and span of the work it was written in (and "-"
outside any), so a line leads to its trace; with tracing off the lines have no such fields."""

import json
import logging

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_shared.observability import configure_logging
from crm_shared.tracing import Tracing


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_lines_carry_the_span_in_progress(capsys: pytest.CaptureFixture[str]) -> None:
    spans = InMemorySpanExporter()
    tracing = Tracing("probe", "console", None, span_exporter=spans)
    configure_logging("probe", trace_ids=True)
    log = logging.getLogger("crm.probe")
    with tracing.tracer.start_as_current_span("work"):
        log.warning("inside")
    log.warning("outside")
    tracing.shutdown()
    inside, outside = _lines(capsys)[-2:]
    (span,) = spans.get_finished_spans()
    assert inside["message"] == "inside"
    assert inside["trace_id"] == format(span.context.trace_id, "032x")
    assert inside["span_id"] == format(span.context.span_id, "016x")
    assert (outside["trace_id"], outside["span_id"]) == ("-", "-")


def test_no_trace_fields_without_tracing(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("probe")
    logging.getLogger("crm.probe").warning("plain")
    (line,) = _lines(capsys)[-1:]
    assert line["message"] == "plain"
    assert "trace_id" not in line
