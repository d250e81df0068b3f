"""Customer service: owns customers, orders pushed by partner systems, and their events."""
