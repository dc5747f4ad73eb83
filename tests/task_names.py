"""The built-in tasks that generate their problems from a seed (every registered task but `dataset`, which reads a
user's file and needs options), for tests that run over each of them."""

GENERATED = ("countdown", "linsys", "stargraph")
