"""The examples' tests use parafka's pytest plugin (the ``pytest11`` entry point registers it
when parafka is installed; listed here too for an environment installed before it existed)."""

pytest_plugins = ["parafka.testing.pytest_plugin"]
