"""Cloud drivers behind one small, openstacksdk-shaped interface."""
