"""Prometheus metrics shared by every service (served on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Histogram(
    "herald_http_request_duration_seconds",
    "HTTP request latency by route and status",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
NOTIFICATIONS = Counter(
    "herald_notifications_total",
    "Notifications by channel and status reached",
    ["channel", "status"],
)
DELIVERY_ATTEMPTS = Counter(
    "herald_delivery_attempts_total",
    "Delivery attempts by channel and outcome",
    ["channel", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "herald_delivery_duration_seconds",
    "Time spent handing one message to its provider",
    ["channel", "outcome"],
)
BREAKER_OPEN = Gauge(
    "herald_circuit_breaker_open",
    "1 while the breaker of a delivery target is open",
    ["channel", "target"],
)
OUTBOX_BACKLOG = Gauge("herald_outbox_backlog", "Outbox rows not yet published")
RETENTION_REMOVED = Counter(
    "herald_retention_removed_total",
    "Notifications removed, with their history, once older than HERALD_RETENTION_DAYS",
)
RATE_LIMITED = Counter("herald_rate_limited_total", "Requests refused by a rate limit", ["scope"])
QUEUE_DEPTH = Gauge("herald_queue_depth", "Messages waiting in a queue", ["queue"])
QUEUE_WAIT = Histogram(
    "herald_queue_wait_seconds",
    "Consumer lag: from acceptance to a worker taking the message",
    ["queue"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
WEBHOOK_EVENTS = Counter(
    "herald_webhook_events_total",
    "Webhook events made (one per event, whatever the number of endpoints)",
    ["type"],
)
WEBHOOK_ATTEMPTS = Counter(
    "herald_webhook_attempts_total",
    "Webhook delivery attempts by endpoint and outcome (delivered, retried, failed)",
    ["endpoint", "outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "herald_webhook_duration_seconds",
    "Time from posting a webhook to its endpoint's answer",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOK_BACKLOG = Gauge(
    "herald_webhook_backlog", "Webhook deliveries waiting for an attempt, and events not yet made"
)
