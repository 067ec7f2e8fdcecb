"""nascost built-in plugin: datasets (being written)."""
