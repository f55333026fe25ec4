"""Activities: all I/O (cloud drivers, webhooks, plug-ins). Idempotent, heartbeating when long."""
