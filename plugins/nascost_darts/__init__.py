"""nascost built-in plugin: darts (being written)."""
