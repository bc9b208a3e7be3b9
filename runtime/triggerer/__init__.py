"""The triggerer: the triggers of deferred tries, in one asyncio loop, and what their events do."""
