"""Map one stored observed call (:class:`lambdaguard.evidence.ObservedCall`) to its authorizations.

This is the one door from evidence to IAM knowledge: analysis hands every
call it read from the store through here. A call whose params could not be
kept whole (the agent or the collector cut a list) is never dropped: its
mapping is kept for what was recorded, and each action it needs also gets a
``*`` resource that says why, so a proposal intersected with the grant keeps
whatever the grant allowed for the part that was cut.
"""

from __future__ import annotations

from lambdaguard.errors import IamDataError
from lambdaguard.evidence import ObservedCall
from lambdaguard.iam._mapper import authorizations
from lambdaguard.iam._model import Authorization, Confidence

__all__ = ["authorizations_for_call"]

_CUT = (
    "The recorded parameters were cut to stay within the agent's size bound, so the "
    "resources they named cannot all be known; the resource is widened to *."
)


def authorizations_for_call(call: ObservedCall, *, partition: str = "aws") -> list[Authorization]:
    """The authorization requests AWS evaluated (or will evaluate) for ``call``.

    The account is the calling function's; the region is the call's own. The
    response facts (``SSEKMSKeyId``, ``KeyId``, ``VersionId`` …) and the error
    code are passed to the mapping, which uses them where they change the
    permissions. Raises :class:`~lambdaguard.errors.IamDataError` (or its
    subclasses) when the call cannot be mapped.
    """
    response: dict[str, str] = dict(call.response)
    if call.error_code:
        response["ErrorCode"] = call.error_code
    found = authorizations(
        call.service,
        call.operation,
        dict(call.params),
        region=call.region,
        account=call.account,
        partition=partition,
        response=response,
    )
    if call.params_complete:
        return found
    widened = [
        Authorization(action, "*", Confidence.WILDCARD, _CUT)
        for action in dict.fromkeys(a.action for a in found if a.resource != "*")
    ]
    if not found and not call.params:
        raise IamDataError(
            f"{call.service} {call.operation}: the recorded parameters were lost and the "
            "mapping names no action"
        )
    return found + widened
