"""Plugins that only tests load, through EXTRA_PLUGINS (see tests/plugins/testjobs.py)."""
