"""The same experiment, calling ``executor_main`` at module level (no ``__main__`` guard):
``dagster dev -f`` / ``dagster asset list -f`` load it and find ``defs``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from marin_dagster import executor_main
from pipelines.marin_script import score

executor_main(steps=[score], description="A tiny Marin experiment")
