"""nascost built-in plugin: lpm (being written)."""
