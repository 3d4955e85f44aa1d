"""Checks of the machine a pipeline runs on (faceops doctor)."""
