"""pytest fixtures that start a simulated region (implemented with issue 2)."""
