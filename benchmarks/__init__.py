"""Benchmarks: openai_trio beside the official SDK and a trio + h11 floor.

Run ``python -m benchmarks`` (``--help`` for the flags).  Nothing here is
imported by the library; the official SDK and matplotlib are optional (the
``bench`` extra).
"""
