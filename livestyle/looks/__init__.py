"""Procedural looks."""
