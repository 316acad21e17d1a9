"""Call orders: the state machine, its pure policy, and its storage."""
