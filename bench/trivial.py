"""A do-nothing evaluator: measures the engine's own cost per task (no NEURON, no eFEL)."""

import math


class TrivialEvaluator:
    feature_names = ["f0", "f1", "f2"]

    def __call__(self, task):
        return {"id": task["id"], "attempt": task.get("attempt", 1), "status": "ok",
                "message": "", "params": [task["params"]["x"]], "features": [1.0, 2.0, 3.0],
                "scores": [0.1, 0.2, 0.3], "timings": {"total": 0.0}, "nseg": 1}

    def failure_record(self, task, status, message):
        return {"id": task["id"], "attempt": task.get("attempt", 1), "status": status,
                "message": message, "params": [task["params"]["x"]],
                "features": [math.nan] * 3, "scores": [250.0] * 3, "timings": {}, "nseg": -1}
