"""nascost built-in plugin: baselines (being written)."""
