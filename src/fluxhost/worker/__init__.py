"""Workers: claim tasks, run the engine, store results, finish tasks, enqueue webhooks."""
