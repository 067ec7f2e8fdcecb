"""nascost built-in plugin: flops (being written)."""
