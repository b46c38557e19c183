"""``python -m mmphase_bench`` runs the ``mmphase`` command."""

import sys

from mmphase_bench.cli.main import main

sys.exit(main())
