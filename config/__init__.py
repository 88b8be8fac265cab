"""The default configuration (TOML), shipped inside the package as ``magicmix_geo._config``."""
