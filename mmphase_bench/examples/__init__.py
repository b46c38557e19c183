"""Example submissions, shipped with the package so they work from any folder.

``linear_autoencoder``: a complete, documented cross-prediction (CP) submission. Run it with
``mmphase run --model mmphase_bench.examples.linear_autoencoder:LinearPredictor ...``, or start a
submission of your own from a copy of the file (``mmphase_bench.examples.linear_autoencoder.__file__``).
"""
