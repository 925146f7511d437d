"""A do-nothing evaluator: measures the engine's own cost per task (no NEURON, no eFEL)."""

import math


class TrivialEvaluator:
    def __init__(self, n_features: int = 3):
        self.feature_names = [f"f{i}" for i in range(n_features)]

    def __call__(self, task):
        n = len(self.feature_names)
        return {"id": task["id"], "attempt": task.get("attempt", 1), "status": "ok",
                "message": "", "params": [task["params"]["x"]],
                "features": [1.0 + i for i in range(n)],
                "scores": [0.1 * (i + 1) for i in range(n)],
                "timings": {"total": 0.0}, "nseg": 1}

    def failure_record(self, task, status, message):
        n = len(self.feature_names)
        return {"id": task["id"], "attempt": task.get("attempt", 1), "status": status,
                "message": message, "params": [task["params"]["x"]],
                "features": [math.nan] * n, "scores": [250.0] * n, "timings": {}, "nseg": -1}
