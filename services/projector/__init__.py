"""Projector workers: the read models of Annals and their worker entrypoint."""
