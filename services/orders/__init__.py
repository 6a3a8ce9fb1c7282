"""Order service: the command side of orders (event-sourced)."""
