"""Lifecycle: engagement signals, relationship stages, lifecycle events, daily stage decay."""
