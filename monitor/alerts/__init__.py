"""Alert delivery: durable outbox, routing, formatting, one module per sink."""
