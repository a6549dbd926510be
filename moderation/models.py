"""Data and constraints only."""
