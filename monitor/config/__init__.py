"""The config file as a whole: the schema assembled from each stage's settings, `config example`, `validate`.

Only the composition roots (cli, app, demo) import this package; a stage reads
its own section in its own `settings.py`, with the reader in monitor/configreader/.
"""

from monitor.config.schema import Config, ConfigError, load_config, parse_config

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]
