"""Settings and default data (organisation, routing, calendar, templates). Imports nothing of ours."""

from config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
