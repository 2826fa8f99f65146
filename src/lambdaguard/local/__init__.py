"""Local stand-ins for the Lambda service and AWS, used by ``make demo`` and the tests.

Modules, each importable on its own (nothing is imported here, so importing
the package stays cheap and free of the ``local`` extra's dependencies):

- :mod:`lambdaguard.local.runtime` — the Runtime and Extensions APIs on
  loopback, driving functions through ``awslambdaric`` as Lambda does;
- :mod:`lambdaguard.local.aws` — moto in server mode, seeded as the sample account;
- :mod:`lambdaguard.local.thirdparty` — a plain-HTTP and HTTPS third-party API;
- :mod:`lambdaguard.local.events` — trigger events in AWS's shapes;
- :mod:`lambdaguard.local.harness` — all of the above started together, plus
  the collector, with the sample workload;
- :mod:`lambdaguard.local.demo` — the ``lambdaguard demo`` command.
"""
