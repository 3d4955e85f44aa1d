"""Photos to faces: import, capture, detection, crops, the manifest, split, validation."""
