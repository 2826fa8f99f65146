"""Renderers: the terminal views, the findings JSON document and the HTML report.

They read only :mod:`lambdaguard.analysis.findings` (through
:func:`lambdaguard.analysis.fleet.analyse`), never the store or the IAM
knowledge. Data becomes JSON (:mod:`.document`) before it becomes a page
(:mod:`.report`), so a live view can serve the same document over HTTP and
draw the same pages.

- :mod:`.terminal` — ``lambdaguard functions`` and ``lambdaguard show`` tables;
- :mod:`.document` — the ``lambdaguard.findings/2`` JSON document;
- :mod:`.report` — the self-contained HTML report (``lambdaguard report``).
"""
