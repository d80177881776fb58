"""Tiny step graphs used as fixtures by the Dagster-side tests (importable as ``pipelines.*``).

Each module exposes builder functions (for in-process tests) and a module-level ``defs``
(for ``dagster job execute -m pipelines.<module>``). Step functions append their step name to
the file named by ``$MARIN_TEST_CALL_LOG`` (when set), so a subprocess run can be checked.
"""
