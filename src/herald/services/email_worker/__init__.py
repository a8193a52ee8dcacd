"""Consumes ``email.queue``, renders, sends over SMTP (port 8003: health and metrics)."""
