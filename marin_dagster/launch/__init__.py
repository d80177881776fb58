"""Where steps run: the Dagster executor and the backends it routes steps to."""
