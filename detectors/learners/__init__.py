"""Learning detectors: what is usual per principal (networks, tools, regions, an instance's place, model use)."""
