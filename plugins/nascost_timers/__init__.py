"""nascost built-in plugin: timers (being written)."""
