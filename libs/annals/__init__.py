"""Annals: an event-sourced microservices data platform on PostgreSQL and Kafka."""

__version__ = "0.1.0"
