"""The records the IAM knowledge answers with."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Authorization", "Confidence"]


class Confidence(enum.Enum):
    """How sure the mapper is of an authorization's resource.

    - ``EXACT``: the resource is exactly what AWS evaluates: an ARN taken from
      the request, an ARN template filled entirely from recorded values, or
      ``*`` for an action that supports no resource types.
    - ``TEMPLATE``: an ARN filled from a template where part of it is a pattern
      the request cannot pin down (an object key prefix ``uploads/*``, a
      secret's random suffix ``-??????``, an account taken from context).
    - ``WILDCARD``: the action supports resource types but the recorded
      parameters do not name one, so the resource fell back to ``*``; the
      explanation says why.
    """

    EXACT = "exact"
    TEMPLATE = "template"
    WILDCARD = "wildcard"


@dataclass(frozen=True, slots=True)
class Authorization:
    """One authorization request AWS evaluates for a call: an action on a resource."""

    action: str  # "s3:ListBucket"
    resource: str  # an ARN, an ARN pattern, or "*"
    confidence: Confidence
    explanation: str  # one sentence

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready form, as ``lambdaguard permissions --format json`` prints it."""
        return {
            "action": self.action,
            "resource": self.resource,
            "confidence": self.confidence.value,
            "explanation": self.explanation,
        }
