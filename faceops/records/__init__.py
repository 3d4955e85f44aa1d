"""What the service keeps: the record store, feedback, drift."""
