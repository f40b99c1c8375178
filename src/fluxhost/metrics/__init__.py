"""Prometheus metrics. Two sources, so that a fleet of separate processes is counted once:

- fleet.py: figures of shared state (queue depth, webhook backlog, live workers), read from
  the database at scrape time by whichever API node is scraped -- the same for every node,
  whoever did the work.
- process.py: counters and histograms of events (tasks finished, durations, engine time,
  claim latency, adapter cache, webhook attempts), kept in memory by the process where they
  happen and summed across processes by Prometheus. The API process serves its embedded
  workers' on /metrics; a `fluxhost worker` serves its own on `--metrics-port`.

See docs/operations.md."""
