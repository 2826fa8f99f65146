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
    - ``DEPENDENT``: AWS may evaluate this action as well, depending on
      something the request does not show (the Service Authorization Reference
      lists it as a dependent action, or the data may be encrypted under a
      customer-managed key). A proposal keeps it where today's grant allows it,
      and the explanation says when it is needed.
    """

    EXACT = "exact"
    TEMPLATE = "template"
    WILDCARD = "wildcard"
    DEPENDENT = "dependent"


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
