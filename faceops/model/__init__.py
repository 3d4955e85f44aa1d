"""Faces to a recogniser: backbones, features, the head, training, the card, prediction, evaluation."""
