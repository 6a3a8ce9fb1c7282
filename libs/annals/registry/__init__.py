"""A schema registry speaking the Confluent Schema Registry REST API, for JSON Schema (issue 18)."""
