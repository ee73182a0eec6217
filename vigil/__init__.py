"""Vigil's command line and local tooling (`vigil db`, `vigil sim`, `vigil dev`, `vigil demo`)."""
