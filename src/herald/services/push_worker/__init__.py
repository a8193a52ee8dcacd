"""Consumes ``push.queue``, sends Web Push / FCM (port 8004: health and metrics)."""
