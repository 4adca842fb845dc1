"""Replicas: several `trailsentry run` processes sharing one organization's state in Redis or Valkey.

store.py (the engine's state, fetched and committed atomically), scripts.py (its two Lua scripts),
connection.py (the client, round trips counted), settings.py (the `state` section).
"""
