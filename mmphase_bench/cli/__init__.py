"""The ``mmphase`` command line."""
