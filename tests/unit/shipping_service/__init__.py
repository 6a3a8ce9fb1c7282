"""Tests of the shipping service."""
