"""The delivery engine both workers run: the loop (retries, delay queues, dead letters,
breakers), the ledger that makes sending effectively once, the template versions it
renders, and the dead letter queue's tools."""
