"""The worker side of a task try: what a running task reaches through the metadata database."""
