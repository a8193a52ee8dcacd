"""One trace follows a notification: the gateway's request, the worker's delivery and
the SMTP call, across the queue."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from herald.kit import tracing
from tests.integration.pipeline import herald_stack, on_servers
from tests.smtp import SmtpServer


class TestTracing:
    async def test_request_queue_worker_and_smtp_share_one_trace(
        self, postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
    ) -> None:
        spans = InMemorySpanExporter()
        tracing.configure("test", endpoint=None, exporter=spans)
        async with herald_stack(
            **on_servers(postgres_url, redis_url, amqp_url), smtp_url=smtp_server.url
        ) as stack:
            user = await stack.user()
            # A caller that is itself traced: its context is continued, not replaced.
            parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            response = await stack.send(stack.notification(user["id"]), traceparent=parent)
            nid = response.json()["data"]["notification_id"]
            await stack.until(nid, "delivered")
        finished = spans.get_finished_spans()
        request = next(s for s in finished if s.name == "POST /api/v1/notifications/")
        deliver = next(
            s
            for s in finished
            if s.name == "deliver email"
            and s.attributes
            and s.attributes["herald.notification_id"] == nid
        )
        send = next(
            s
            for s in finished
            if s.name == "email send"
            and s.parent is not None
            and s.parent.span_id == deliver.context.span_id
        )
        trace_id = int("0af7651916cd43dd8448eb211c80319c", 16)
        assert (
            request.context.trace_id
            == deliver.context.trace_id
            == send.context.trace_id
            == trace_id
        )
        assert request.kind is SpanKind.SERVER and deliver.kind is SpanKind.CONSUMER
        assert (
            send.attributes and send.attributes["herald.target"] == f"127.0.0.1:{smtp_server.port}"
        )
        assert request.attributes and request.attributes["http.response.status_code"] == 202
