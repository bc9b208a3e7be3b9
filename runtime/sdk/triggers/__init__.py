"""Triggers: small asyncio pieces that a deferred task waits on, run by ``windsock triggerer``."""
