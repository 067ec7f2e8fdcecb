"""nascost built-in plugin: power (being written)."""
