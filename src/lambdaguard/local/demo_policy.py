"""The demo's policy part: each sample function's proposal as a diff, and its proof under moto's IAM.

:func:`run` asks analysis for the proposals (grants read live from the
seeded moto account through the default credential chain, evidence from the
demo's store, the same ``policy_step`` ``lambdaguard findings`` runs), then
proves them the second way (:mod:`lambdaguard.local.enforce`): each function
gets a role carrying only its proposal, moto's IAM enforcement is switched on,
the workload runs again, and calls the functions never made are tried with
the same credentials. :func:`show` prints it; the end-to-end test
(``tests/integration/test_policy_enforced.py``) asserts on the same result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from lambdaguard.analysis.findings import Findings, FunctionFindings, PolicyProposal
from lambdaguard.errors import ConfigError

if TYPE_CHECKING:
    from lambdaguard.local.harness import Invocation, Stage

__all__ = [
    "FunctionProof",
    "PolicyDemo",
    "as_step",
    "probe",
    "propose",
    "prove",
    "run",
    "show",
    "summary",
]


@dataclass(frozen=True, slots=True)
class FunctionProof:
    """One function run again under moto's enforcement with only its proposal."""

    function: str
    role_arn: str  # the role carrying the proposal
    moto_notes: tuple[str, ...]
    before: dict[str, int]  # invocation outcomes of the first run
    after: dict[str, int]  # ... and with the proposal enforced
    refused: tuple[tuple[str, str], ...]  # (a call never made, the error moto answered)
    not_refused: tuple[str, ...] = ()  # calls never made that moto let through (must be empty)

    @property
    def still_works(self) -> bool:
        """Every invocation ended as it did with the over-broad role."""
        return self.before == self.after

    @property
    def passed(self) -> bool:
        """Still works, and every call it never made was refused."""
        return self.still_works and not self.not_refused and bool(self.refused)


@dataclass(frozen=True, slots=True)
class PolicyDemo:
    """The proposals and their proof under moto."""

    findings: Findings
    proofs: tuple[FunctionProof, ...] = field(default=())


def propose(stage: Stage, *, now: datetime | None = None) -> Findings:
    """Every sample function's proposal, from the demo's store and the account's live grants."""
    from lambdaguard.analysis.evidence import IamRequests
    from lambdaguard.analysis.fleet import analyse, open_for_reading
    from lambdaguard.analysis.grants import read_grants_live, role_reader_live
    from lambdaguard.analysis.policies import policy_step
    from lambdaguard.local.enforce import moto_environment
    from lambdaguard.views._grants import inputs_from_grants

    if stage.moto is None:
        raise ConfigError("the stage must be started before proposing")
    now = now or datetime.now(UTC)
    window = timedelta(days=90)
    with moto_environment(stage.moto):
        grants = read_grants_live(progress=False)
        inputs = inputs_from_grants(grants, role_reader_live())
    store = open_for_reading(stage.store_url)
    try:
        step = policy_step(inputs, store=store, now=now, window=window, requests=IamRequests())
        return analyse(store, now=now, window=window, source="demo", steps=[step])
    finally:
        store.close()


def _outcomes(runs: Sequence[Invocation], function: str) -> dict[str, int]:
    return dict(sorted(Counter(r.result.status for r in runs if r.function == function).items()))


def _get_object(s3: Any, bucket: str) -> Any:
    return s3.get_object(Bucket=bucket, Key="lambdaguard-probe/outside")


def _delete_table(dynamodb: Any, table: str) -> Any:
    return dynamodb.delete_table(TableName=table)


def probe(
    stage: Stage, fn: FunctionFindings, credentials: Any
) -> tuple[list[tuple[str, str]], list[str]]:
    """Calls ``fn`` never made, tried with ``credentials``: (refused with their error, let through)."""
    import boto3
    from botocore.exceptions import ClientError

    if stage.moto is None or fn.proposal is None:
        return [], []
    endpoint = stage.moto.endpoint

    def client(service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=stage.account.region if stage.account else "us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )

    tries: list[tuple[str, Callable[[], Any]]] = [
        ("iam:ListUsers", lambda: client("iam").list_users()),
    ]
    for st in fn.proposal.statements:
        if st.effect != "Allow":
            continue
        for resource in st.resources:
            # An object outside a prefix the proposal keeps: refused at resource level.
            if (
                resource.startswith("arn:aws:s3:::")
                and resource.endswith("/*")
                and "s3:GetObject" in st.actions
            ):
                bucket, _, prefix = resource.removeprefix("arn:aws:s3:::").partition("/")
                if prefix and prefix != "*":
                    tries.append(
                        (
                            f"s3:GetObject on {bucket}/lambdaguard-probe/outside (outside {prefix})",
                            partial(_get_object, client("s3"), bucket),
                        )
                    )
                    break
        if any(a.startswith("dynamodb:") for a in st.actions):
            table = next(
                (r.split("table/", 1)[1].split("/")[0] for r in st.resources if "table/" in r), None
            )
            if table and not any(t[0].startswith("dynamodb:DeleteTable") for t in tries):
                tries.append(
                    (
                        f"dynamodb:DeleteTable on {table}",
                        partial(_delete_table, client("dynamodb"), table),
                    )
                )
    refused: list[tuple[str, str]] = []
    through: list[str] = []
    for name, call in tries:
        try:
            call()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            # moto answers some JSON-protocol denials with a bare 403.
            if "denied" in code.lower() or status == 403:
                refused.append((name, code or str(status)))
            else:
                through.append(f"{name} (answered {code}, not an access denial)")
            continue
        through.append(name)
    return refused, through


def prove(
    stage: Stage, findings: Findings, first: Sequence[Invocation]
) -> tuple[FunctionProof, ...]:
    """Run the workload again, each function with only its proposal, under moto's enforcement."""
    from lambdaguard.local.enforce import administrator, enforcing, moto_policy, proposed_role

    if stage.moto is None:
        raise ConfigError("the stage must be started before proving")
    administrator(stage.moto)
    roles: dict[str, tuple[str, Any, tuple[str, ...]]] = {}
    for fn in findings.functions:
        p: PolicyProposal | None = fn.proposal
        if p is None or not p.proved:
            continue
        calls = [m for g in fn.evidence.calls for m in g.calls] if fn.evidence else []
        adapted = moto_policy(p.documents, calls)
        arn, credentials = proposed_role(stage.moto, f"{fn.name}-proposed", adapted.documents)
        # The proof run is not evidence: the agent stays off, the store keeps the first run only.
        stage.use_credentials(fn.name, credentials, environment={"LAMBDAGUARD_ENABLED": "false"})
        roles[fn.name] = (arn, credentials, adapted.notes)
    # Functions lambdaguard never heard from (an INIT that fails before any
    # record) keep their role: there is nothing to propose for them.
    with enforcing(stage.moto):
        again = stage.run_workload()
        stage.shutdown_functions()
        out = []
        for fn in findings.functions:
            if fn.name not in roles:
                continue
            arn, credentials, notes = roles[fn.name]
            refused, through = probe(stage, fn, credentials)
            out.append(
                FunctionProof(
                    function=fn.name,
                    role_arn=arn,
                    moto_notes=notes,
                    before=_outcomes(first, fn.name),
                    after=_outcomes(again, fn.name),
                    refused=tuple(refused),
                    not_refused=tuple(through),
                )
            )
    return tuple(sorted(out, key=lambda x: x.function))


def run(stage: Stage, first: Sequence[Invocation], *, now: datetime | None = None) -> PolicyDemo:
    """The proposals for the demo's functions and their proof under moto."""
    findings = propose(stage, now=now)
    return PolicyDemo(findings, prove(stage, findings, first))


def show(say: Callable[[str], None], demo: PolicyDemo) -> None:
    """Print each function's proposal as a diff against its role, then the proof under moto."""
    from lambdaguard.views.policy_formats import diff_text

    say("")
    say("== right-sized policies (lambdaguard policy FUNCTION shows the same, with the evidence)")
    proofs = {p.function: p for p in demo.proofs}
    for fn in sorted(demo.findings.functions, key=lambda f: f.name):
        p = fn.proposal
        say("")
        if p is None:
            say(f"-- {fn.name}: no proposal (its grants were not read)")
            continue
        paths = f"escalation paths {p.escalation_paths_now} -> {p.escalation_paths_after}"
        say(
            f"-- {fn.name}: role {p.role_arn.rsplit('/', 1)[-1]}, {p.confidence.level.value} "
            f"confidence, {p.unused_total:,} granted action(s) never used, {paths}"
        )
        for line in diff_text(p, compact=True).splitlines():
            say(f"   {line}")
        failed = [c for c in p.proof if not c.passed]
        say(
            "   proof by replay: "
            + (
                "passed (" + "; ".join(c.detail for c in p.proof if c.name == "replay") + ")"
                if not failed
                else "FAILED: " + "; ".join(c.detail for c in failed)
            )
        )
        proof = proofs.get(fn.name)
        if proof is None:
            continue
        verdict = "passed" if proof.passed else "FAILED"
        say(
            f"   proof under moto's IAM enforcement ({verdict}): invocations {proof.before} with "
            f"the old role, {proof.after} with only the proposal"
        )
        for name, code in proof.refused:
            say(f"     refused as it should be: {name} ({code})")
        for name in proof.not_refused:
            say(f"     NOT refused: {name}")
        for note in proof.moto_notes:
            say(f"     (for moto: {note})")


def as_step(demo: PolicyDemo) -> Callable[[Findings], Findings]:
    """A findings step that puts the demo's proposals in (for the report drawn after moto stopped)."""
    import dataclasses

    made = {f.arn: f for f in demo.findings.functions}

    def step(findings: Findings) -> Findings:
        functions = tuple(
            dataclasses.replace(
                fn,
                proposal=made[fn.arn].proposal,
                assumed_roles=made[fn.arn].assumed_roles,
                role_arn=made[fn.arn].role_arn or fn.role_arn,
            )
            if fn.arn in made
            else fn
            for fn in findings.functions
        )
        return dataclasses.replace(findings, functions=functions)

    return step


def summary(demo: PolicyDemo) -> dict[str, Any]:
    """The policy part of summary.json."""
    out: dict[str, Any] = {}
    proofs = {p.function: p for p in demo.proofs}
    for fn in demo.findings.functions:
        p = fn.proposal
        if p is None:
            continue
        proof = proofs.get(fn.name)
        out[fn.name] = {
            "role": p.role_arn,
            "policies": list(p.policies),
            "confidence": p.confidence.level.value,
            "proved_by_replay": p.proved,
            "unused_actions": p.unused_total,
            "escalation_paths": [p.escalation_paths_now, p.escalation_paths_after],
            "moto": None
            if proof is None
            else {
                "still_works": proof.still_works,
                "refused": [list(x) for x in proof.refused],
                "not_refused": list(proof.not_refused),
                "notes": list(proof.moto_notes),
            },
        }
    return out
