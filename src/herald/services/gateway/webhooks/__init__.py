"""Delivery webhooks (SPEC.md §6.3): endpoints managed through the API, events written
with the status changes they report, and the worker that delivers them."""
