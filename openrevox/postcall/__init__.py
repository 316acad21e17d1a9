"""After an order ends: the webhook outbox and its deliverer (signed, retried, recorded)."""
