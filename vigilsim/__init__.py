"""A simulated OpenStack region (Keystone, Nova) and Kubernetes cluster over real HTTP."""
