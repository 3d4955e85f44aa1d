"""The people in a gallery: listing, forget and the inventory of where person data lives."""
