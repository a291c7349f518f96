"""maskaae's presets: one YAML file per dataset and scale, installed as ``maskaae_cli.recipes``."""
