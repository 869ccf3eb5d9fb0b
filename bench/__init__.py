"""Benchmarks. Nothing here is imported by the product."""
