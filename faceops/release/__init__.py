"""From candidate to live model: the gate, promotion, retrain, reports, the registry."""
