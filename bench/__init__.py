"""Benchmarks at group scale (issue 6): a deterministic generator and scenario runner."""
