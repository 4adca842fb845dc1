"""`trailsentry demo` and the example CloudTrail traffic it (and the tests and benchmarks) are made of.

- `run.py`: the real service against an embedded AWS emulator, with traffic written live;
- `replicas.py`: that service as one `App`, or N replicas sharing state in Redis (`--replicas N`);
  `local_redis.py`: the Redis they share (one named by the user, or a redis-server the demo starts);
- `emulator.py`: moto on loopback, wired bucket -> SNS -> SQS as CloudTrail is set up;
- `traffic.py`: writes log files into the demo bucket over time; `console.py`: readable alert lines;
- `builders.py`: the example organization and builders for its events;
- `background.py`: benign traffic; `scenarios.py`: one incident per mission detector, and traps;
- `objects.py`: CloudTrail's object keys and files, and the example corpus.

Nothing is imported here, so building events does not load the service.
"""
