"""The Masakari API v1 served by the ``api`` function: pipeline, routes, models, auth, policy."""
