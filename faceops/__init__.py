"""faceops: a face recogniser for your own faces that versions its data and retrains itself."""

__version__ = "0.1.0"
