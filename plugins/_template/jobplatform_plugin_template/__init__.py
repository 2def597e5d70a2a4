"""The plugin_template plugin: the `pluginTemplate` job type."""
