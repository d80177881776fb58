"""Errors raised while building or versioning steps.

Every error names the step and, where there is one, the config field, e.g.::

    StepDefinitionError: step 'tokenize/fineweb', field 'train_paths.[0]': a set is hashed in
    iteration order, which Python does not fix; use a list or tuple
"""


class StepDefinitionError(ValueError):
    """A step, its name or its config cannot be versioned or resolved.

    Example:
        >>> err = StepDefinitionError("bad value", step="a", field="x.y")
        >>> str(err)
        "step 'a', field 'x.y': bad value"
    """

    def __init__(self, message: str, *, step: str | None = None, field: str | None = None):
        self.step = step
        self.field = field
        self.reason = message
        where = []
        if step is not None:
            where.append(f"step {step!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def with_step(self, step: str) -> "StepDefinitionError":
        """Return a copy that names ``step`` when the original did not."""
        if self.step is not None:
            return self
        return StepDefinitionError(self.reason, step=step, field=self.field)


class StepCycleError(StepDefinitionError):
    """The step graph has a cycle (only possible by mutating a config after building it)."""
