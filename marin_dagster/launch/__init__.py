"""Where steps run: the routing executor, its backends and the run launcher."""
