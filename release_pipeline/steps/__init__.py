"""Ops shared by every release job; the service comes from the run's tags."""
