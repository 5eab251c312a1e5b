"""A fake of every implemented marketplace, served on loopback for the demo, tests and benchmarks."""

from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import World

__all__ = ["Reply", "Request", "Sandbox", "World"]
