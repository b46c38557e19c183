"""The public leaderboard: publish validated results, check the folder, render tables, plots and a page,
reproduce published results.

Layers, lowest first (a module imports only from layers below it): ``aggregate`` (results to tables),
``render`` (tables to text) and ``store`` (the folder's result files); ``publish`` (uses ``store``);
``build`` (``store`` + ``render``: build and check the folder); ``reproduce`` (``store`` + the harness).
"""

from mmphase_bench.leaderboard.build import build, check
from mmphase_bench.leaderboard.publish import PublishReport, publish
from mmphase_bench.leaderboard.reproduce import ReproductionReport, plan_reproduction, reproduce

__all__ = ["publish", "PublishReport", "build", "check", "reproduce", "plan_reproduction", "ReproductionReport"]
