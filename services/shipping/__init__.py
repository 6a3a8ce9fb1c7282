"""The shipping service (made with `annals new service`)."""
