"""Inference backends behind one interface (:class:`Runner`)."""

from livestyle.runners.base import BackendStatus, Runner

__all__ = ["BackendStatus", "Runner"]
