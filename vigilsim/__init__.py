"""A simulated OpenStack region (Keystone, Nova) and Kubernetes cluster over real HTTP."""

from vigilsim.region import Region

__all__ = ["Region"]
