"""The table of bad inputs of ``experiments/bad_inputs.py``: the cases per command or API
(``cases_*.py``), the inputs they share (``fixtures.py``), how a case is run and judged
(``harness.py``, ``worker.py``) and the last run's results (``results.json``)."""
