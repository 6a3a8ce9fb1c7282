"""Customer service: the command side of customers (event-sourced)."""
