"""Learning detectors: what is usual per principal (networks, tools, regions, an instance session's place, model use)."""
