"""An evaluator that only sleeps ``params["x"]`` seconds: scheduling tests without CPU load."""

import math
import time


class SleepEvaluator:
    feature_names = ["slept"]

    def __call__(self, task):
        time.sleep(task["params"]["x"])
        return {"id": task["id"], "attempt": task.get("attempt", 1), "status": "ok",
                "message": "", "params": [task["params"]["x"]], "features": [1.0],
                "scores": [0.0], "timings": {"total": task["params"]["x"]}, "nseg": 1}

    def failure_record(self, task, status, message):
        return {"id": task["id"], "attempt": task.get("attempt", 1), "status": status,
                "message": message, "params": [task["params"]["x"]], "features": [math.nan],
                "scores": [250.0], "timings": {}, "nseg": -1}
