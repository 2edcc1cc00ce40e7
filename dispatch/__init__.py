"""The Dispatch service: attach to collector jobs, cache, map/reduce."""
