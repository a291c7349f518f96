"""The `maskaae` command line."""
