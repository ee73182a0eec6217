"""The one error every power driver raises."""


class PowerError(RuntimeError):
    """The power controller gave no usable answer (unreachable, auth, unexpected body, no BMC)."""
