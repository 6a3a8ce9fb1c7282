"""Adapters of the orders service to other parts of the platform."""
