"""IAM wildcard patterns: matching follows AWS's segment rules; cover and intersect are exact."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdaguard.iam._glob import (
    STAR_ALL,
    STAR_SEG,
    Glob,
    action_matcher,
    covers,
    intersect,
    nonempty,
    parse_glob,
)

# Strings over a small alphabet that holds what the rules treat apart: ordinary
# characters, the segment separator ":" and "/" (which "*" crosses).
ALPHABET = "a:/c"
STRINGS = tuple("".join(p) for n in range(7) for p in itertools.product(ALPHABET, repeat=n))
patterns = st.text(alphabet="a:/*?", max_size=5).map(parse_glob)


def _matched(g: Glob) -> frozenset[str]:
    return frozenset(s for s in STRINGS if g.matches(s))


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        # "amzn-s3-demo-bucket/*/test/*" matches objects at any depth ("*" crosses "/").
        ("arn:aws:s3:::bucket/*/test/*", "arn:aws:s3:::bucket/1/2/test/3/o.jpg", True),
        ("arn:aws:s3:::bucket/*/test/*", "arn:aws:s3:::bucket/1-test/o.jpg", False),
        # A "*" ending a segment expands beyond the colon boundaries.
        (
            "arn:aws:logs:*:*:log-group:/aws/lambda/*",
            "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/f:log-stream:x",
            True,
        ),
        ("*", "arn:aws:s3:::b/k", True),
        # A "*" inside a segment does not.
        ("arn:aws:s3:::b/*.json", "arn:aws:s3:::b/10:00.json", False),
        ("arn:aws:s3:::b/*.json", "arn:aws:s3:::b/2026/x.json", True),
        # "?" is one character, never a colon; ARNs are case sensitive.
        (
            "arn:aws:secretsmanager:eu-west-1:1:secret:db-??????",
            "arn:aws:secretsmanager:eu-west-1:1:secret:db-AbC123",
            True,
        ),
        (
            "arn:aws:secretsmanager:eu-west-1:1:secret:db-??????",
            "arn:aws:secretsmanager:eu-west-1:1:secret:db-AbC12",
            False,
        ),
        ("arn:aws:iam::1:user/Bob", "arn:aws:iam::1:user/bob", False),
    ],
)
def test_matching_follows_the_segment_rules(pattern: str, value: str, expected: bool) -> None:
    """Resource patterns match as the IAM User Guide's "Using wildcards in resource ARNs" says."""
    assert parse_glob(pattern).matches(value) is expected


def test_star_kind_depends_on_its_position() -> None:
    """A "*" before ":" or at the end crosses colons; any other "*" stays inside its segment."""
    assert parse_glob("a*:b*").tokens == ("a", STAR_ALL, ":", "b", STAR_ALL)
    assert parse_glob("a*b").tokens == ("a", STAR_SEG, "b")


def test_variables_are_read_as_wildcards_and_named() -> None:
    """A policy variable matches anything it could resolve to, and the glob names it."""
    g = parse_glob("arn:aws:s3:::home/${aws:username}/*", variables=True)
    assert g.variables == ("aws:username",)
    assert g.matches("arn:aws:s3:::home/alice/notes.txt")
    assert not g.matches("arn:aws:s3:::other/alice/notes.txt")


def test_special_character_variables_are_literals() -> None:
    """${*}, ${?} and ${$} stand for the characters themselves, and render back the same way."""
    g = parse_glob("arn:aws:s3:::b/${*}${?}${$}", variables=True)
    assert g.concrete
    assert g.matches("arn:aws:s3:::b/*?$")
    assert not g.matches("arn:aws:s3:::b/xy$")
    assert parse_glob(g.text, variables=True) == g


def test_variables_are_text_without_the_flag() -> None:
    """Without variables (Version 2008-10-17) "${aws:username}" is literal text."""
    g = parse_glob("arn:aws:s3:::home/${aws:username}")
    assert g.concrete
    assert g.matches("arn:aws:s3:::home/${aws:username}")


def test_action_matching_is_case_insensitive() -> None:
    """ "iam:ListAccessKeys is the same as IAM:listaccesskeys"; wildcards work in action names."""
    test = action_matcher(["IAM:listaccesskeys", "s3:Get*", "sqs:?eceiveMessage"])
    assert test("iam:ListAccessKeys")
    assert test("s3:GetObjectVersion")
    assert test("sqs:ReceiveMessage")
    assert not test("s3:PutObject")
    assert not action_matcher([])("s3:GetObject")


def test_intersection_of_an_object_prefix_and_a_suffix_grant() -> None:
    """A recorded prefix intersected with a grant's suffix pattern names the objects both allow."""
    got = intersect(
        parse_glob("arn:aws:s3:::photos/uploads/*"), parse_glob("arn:aws:s3:::photos/*.jpg")
    )
    assert [g.text for g in got] == ["arn:aws:s3:::photos/uploads/*.jpg"]


def test_covers_common_shapes() -> None:
    """A bucket-wide grant covers a key prefix; a suffix grant does not."""
    req = parse_glob("arn:aws:s3:::photos/uploads/*")
    assert covers([parse_glob("arn:aws:s3:::photos/*")], req)
    assert covers([parse_glob("*")], req)
    assert not covers([parse_glob("arn:aws:s3:::photos/*.jpg")], req)
    assert not covers([], req)


@settings(max_examples=300, deadline=None)
@given(patterns, patterns)
def test_covers_agrees_with_brute_force(a: Glob, b: Glob) -> None:
    """covers(a, b) holds exactly when every sampled string b matches is matched by a."""
    brute = _matched(b) <= _matched(a)
    assert covers([a], b) is brute


@settings(max_examples=300, deadline=None)
@given(patterns, patterns)
def test_intersection_matches_exactly_what_both_match(a: Glob, b: Glob) -> None:
    """The union of intersect(a, b) matches exactly the strings both patterns match."""
    parts = intersect(a, b)
    union = frozenset().union(*(_matched(g) for g in parts)) if parts else frozenset()
    assert union == _matched(a) & _matched(b)


@settings(max_examples=300, deadline=None)
@given(patterns, patterns)
def test_intersection_parts_render_as_iam_text(a: Glob, b: Glob) -> None:
    """Each part of an intersection, written as IAM text and read back, is the same pattern."""
    for g in intersect(a, b):
        assert parse_glob(g.text).tokens == g.tokens


@settings(max_examples=200, deadline=None)
@given(patterns, patterns, patterns)
def test_nonempty_decides_a_difference(a: Glob, b: Glob, c: Glob) -> None:
    """nonempty finds a string in a but in neither b nor c exactly when one exists."""
    brute = bool(_matched(a) - _matched(b) - _matched(c))
    assert nonempty([a, b, c], lambda f: f[0] and not f[1] and not f[2]) is brute
