"""The public leaderboard: publish validated results, check the folder, render tables, plots and a page,
reproduce published results."""

from mmphase_bench.leaderboard.publish import PublishReport, publish
from mmphase_bench.leaderboard.render import build
from mmphase_bench.leaderboard.reproduce import ReproductionReport, plan_reproduction, reproduce
from mmphase_bench.leaderboard.store import check

__all__ = ["publish", "PublishReport", "build", "check", "reproduce", "plan_reproduction", "ReproductionReport"]
