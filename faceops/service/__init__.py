"""The web service: the app, its routes, workers and access rules."""
