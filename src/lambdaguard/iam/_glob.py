"""IAM wildcard patterns: match an ARN, decide whether one pattern covers another, intersect two.

The rules, from the IAM User Guide ("IAM JSON policy elements: Resource",
section "Using wildcards in resource ARNs"):

- "You can use wildcard characters (* and ?) within the individual segments of
  an ARN (the parts separated by colons)": ``*`` is any combination of
  characters, ``?`` any single character.
- "If the * wildcard is the last character of a resource ARN segment, it can
  expand to match beyond the colon boundaries."
- "The asterisk (*) character can expand to replace everything within a
  segment, including characters like a forward slash (/)".

So a pattern is read segment by segment. A ``*`` that ends a segment
(followed by ``:`` or by the end of the pattern) matches any characters,
colons included (``STAR_ALL``); any other ``*`` matches any characters but a
colon (``STAR_SEG``); ``?`` matches one character that is not a colon. ARNs
are case sensitive ("In the Resource element, the IAM user name is case
sensitive"), so matching is too. ``"*"`` alone is every resource.

With ``variables=True`` (policies of Version 2012-10-17) ``${*}``, ``${?}`` and
``${$}`` are the literal characters (IAM's "special characters" variables),
and any other ``${...}`` is a policy variable. A variable cannot be resolved
here, so it is read as ``STAR_ALL``: the pattern then says what the statement
*could* match, and :attr:`Glob.variables` names what the match depends on.

Why automata: the requests the IAM mapping emits are patterns themselves
(``arn:aws:s3:::photos/uploads/*``, ``...:secret:db-??????``), so the evaluator
must say whether a grant covers *every* ARN of a pattern, some, or none, and
name the part it covers. :func:`covers` decides inclusion exactly (a subset
construction over the characters the patterns mention, plus ``:`` and one
stand-in for every other character), :func:`intersect` returns globs whose
union is exactly the strings both patterns match, and :func:`nonempty`
decides any boolean combination the evaluator builds (allowed parts minus
denied parts). Patterns in policies are short; the work is bounded
(:data:`MAX_STATES`) and cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

__all__ = [
    "ANY1",
    "MAX_STATES",
    "STAR_ALL",
    "STAR_SEG",
    "Glob",
    "TooComplex",
    "action_matcher",
    "covers",
    "intersect",
    "nonempty",
    "parse_glob",
]

# Token kinds; a literal character is a one-character str.
ANY1 = 0  # "?": one character, not ":"
STAR_SEG = 1  # "*" inside a segment: any characters but ":"
STAR_ALL = 2  # "*" ending a segment: any characters
Token = str | int

# Product states one decision may visit before it gives up (TooComplex).
MAX_STATES = 20_000

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


class TooComplex(Exception):
    """A pattern decision would visit more than :data:`MAX_STATES` states."""


@dataclass(frozen=True, slots=True)
class Glob:
    """A parsed IAM resource pattern (tokens), and the policy variables read as ``*`` in it."""

    tokens: tuple[Token, ...]
    variables: tuple[str, ...] = field(default=(), compare=False)
    # True if the pattern has no wildcard: it matches exactly one string. Kept
    # rather than recomputed: the evaluator asks for every request it decides.
    concrete: bool = field(init=False, compare=False, repr=False)
    # The literal text before the first and after the last wildcard, read once:
    # the disjointness test of every intersection compares them.
    head: str = field(init=False, compare=False, repr=False)
    tail: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        concrete = int not in map(type, self.tokens)
        object.__setattr__(self, "concrete", concrete)
        if concrete:
            text = "".join(self.tokens)  # type: ignore[arg-type]
            object.__setattr__(self, "head", text)
            object.__setattr__(self, "tail", text)
        else:
            object.__setattr__(self, "head", _literal_prefix(self.tokens))
            object.__setattr__(self, "tail", _literal_suffix(self.tokens))

    @property
    def text(self) -> str:
        """The pattern as IAM text (a literal ``*``, ``?`` or ``$`` written ``${*}``, …)."""
        return _render(self.tokens)

    @property
    def everything(self) -> bool:
        """True if the pattern matches every string (``*``)."""
        return self.tokens == (STAR_ALL,)

    def matches(self, value: str) -> bool:
        """True if the string ``value`` is one the pattern matches."""
        return _regex(self.tokens).fullmatch(value) is not None

    def __str__(self) -> str:
        return self.text


def parse_glob(text: str, *, variables: bool = False) -> Glob:
    """Read an IAM resource pattern; ``variables`` as in a Version 2012-10-17 policy."""
    # Globs are immutable and the same patterns recur across a fleet's roles and
    # proposals (``arn:aws:dynamodb:...:table/*``): read each text once.
    return _parse_glob(text, variables)


@lru_cache(maxsize=65536)
def _parse_glob(text: str, variables: bool) -> Glob:
    if "*" not in text and "?" not in text and "${" not in text:
        # A plain ARN (most requests): every character is a literal.
        return Glob(tuple(text))
    tokens: list[Token] = []
    names: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if variables and text.startswith("${", i):
            m = _VARIABLE.match(text, i)
            if m is not None:
                inner = m.group(1)
                if inner in _SPECIAL:
                    tokens.append(_SPECIAL[inner])
                else:
                    names.append(inner)
                    tokens.append(STAR_ALL)
                i = m.end()
                continue
        if ch == "*":
            last = i + 1 == n or text[i + 1] == ":"
            tokens.append(STAR_ALL if last else STAR_SEG)
        elif ch == "?":
            tokens.append(ANY1)
        else:
            tokens.append(ch)
        i += 1
    return Glob(_normalize(tokens), tuple(names))


def _normalize(tokens: Iterable[Token]) -> tuple[Token, ...]:
    # Adjacent stars match what the wider of them matches (each can be empty).
    out: list[Token] = []
    for t in tokens:
        if _is_star(t) and out and _is_star(out[-1]):
            out[-1] = max(int(t), int(out[-1]))
        else:
            out.append(t)
    return tuple(out)


def _is_star(t: Token) -> bool:
    return t in (STAR_SEG, STAR_ALL)


@lru_cache(maxsize=65536)
def _render(tokens: tuple[Token, ...]) -> str:
    parts: list[str] = []
    for t in tokens:
        if t == ANY1:
            parts.append("?")
        elif _is_star(t):
            parts.append("*")
        elif t in ("*", "?", "$"):
            parts.append("${" + str(t) + "}")
        else:
            parts.append(str(t))
    return "".join(parts)


@lru_cache(maxsize=65536)
def _regex(tokens: tuple[Token, ...]) -> re.Pattern[str]:
    parts: list[str] = []
    for t in tokens:
        if t == ANY1:
            parts.append("[^:]")
        elif t == STAR_SEG:
            parts.append("[^:]*")
        elif t == STAR_ALL:
            parts.append(".*")
        else:
            parts.append(re.escape(str(t)))
    return re.compile("".join(parts), re.DOTALL)


def action_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A test for IAM action names against Action/NotAction values.

    "The prefix and the action name are case insensitive. For example,
    iam:ListAccessKeys is the same as IAM:listaccesskeys." (IAM User Guide,
    "IAM JSON policy elements: Action"); ``*`` and ``?`` are wildcards there too.
    """
    patterns = tuple(patterns)
    if not patterns:
        return _never
    return _action_test(tuple(sorted(set(patterns))))


@lru_cache(maxsize=8192)
def _action_test(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    # Names without wildcards are a set lookup; only patterns need a regex
    # (compiling one per statement was most of what building a grant cost).
    names = frozenset(p.lower() for p in patterns if "*" not in p and "?" not in p)
    wild = sorted({_action_regex(p) for p in patterns if "*" in p or "?" in p})
    compiled = (
        re.compile("|".join(f"(?:{a})" for a in wild), re.IGNORECASE | re.DOTALL) if wild else None
    )
    if compiled is None:

        def test_names(action: str) -> bool:
            return action.lower() in names

        return test_names

    def test(action: str) -> bool:
        return action.lower() in names or compiled.fullmatch(action) is not None

    return test


def _never(action: str) -> bool:
    return False


def _action_regex(pattern: str) -> str:
    return "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.lower()
    )


# ---------------------------------------------------------------------------
# Automata: each glob is an NFA whose states are token positions.


def _closure(tokens: tuple[Token, ...], states: Iterable[int]) -> frozenset[int]:
    out = set()
    for start in states:
        s = start
        out.add(s)
        # A star may match nothing: the position after it is reachable too.
        while s < len(tokens) and _is_star(tokens[s]):
            s += 1
            out.add(s)
    return frozenset(out)


def _step(tokens: tuple[Token, ...], states: frozenset[int], ch: str) -> frozenset[int]:
    nxt: set[int] = set()
    for s in states:
        if s >= len(tokens):
            continue
        t = tokens[s]
        if t == STAR_ALL or (t == STAR_SEG and ch != ":"):
            nxt.add(s)
        elif (t == ANY1 and ch != ":") or t == ch:
            nxt.add(s + 1)
    return _closure(tokens, nxt) if nxt else frozenset()


def _alphabet(globs: Sequence[Glob]) -> tuple[str, ...]:
    # Every character a pattern names, ":" (the wildcards treat it apart), and one
    # character none of them names, standing for all the others (they behave alike).
    named = {t for g in globs for t in g.tokens if isinstance(t, str)}
    named.add(":")
    other = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in named)
    return (*sorted(named), other)


def nonempty(globs: Sequence[Glob], accept: Callable[[tuple[bool, ...]], bool]) -> bool:
    """True if some string's membership in ``globs`` (one flag each) satisfies ``accept``.

    Raises :class:`TooComplex` past :data:`MAX_STATES` product states.
    """
    token_lists = [g.tokens for g in globs]
    start = tuple(_closure(t, (0,)) for t in token_lists)
    other = _alphabet(globs)[-1]
    seen = {start}
    todo = [start]
    while todo:
        state = todo.pop()
        flags = tuple(len(t) in s for t, s in zip(token_lists, state, strict=True))
        if accept(flags):
            return True
        # Only the literals due at the current positions can move a pattern
        # differently from "other"; every other character behaves like it.
        due: set[str] = {":", other}
        for t, states in zip(token_lists, state, strict=True):
            for i in states:
                if i < len(t):
                    tok = t[i]
                    if isinstance(tok, str):
                        due.add(tok)
        for ch in sorted(due):
            nxt = tuple(_step(t, s, ch) for t, s in zip(token_lists, state, strict=True))
            if nxt not in seen:
                seen.add(nxt)
                if len(seen) > MAX_STATES:
                    raise TooComplex(f"more than {MAX_STATES} states")
                todo.append(nxt)
    return False


def _literal_prefix(tokens: tuple[Token, ...]) -> str:
    for i, t in enumerate(tokens):
        if not isinstance(t, str):
            return "".join(tokens[:i])  # type: ignore[arg-type]
    return "".join(tokens)  # type: ignore[arg-type]


def _literal_suffix(tokens: tuple[Token, ...]) -> str:
    for i in range(len(tokens) - 1, -1, -1):
        if not isinstance(tokens[i], str):
            return "".join(tokens[i + 1 :])  # type: ignore[arg-type]
    return "".join(tokens)  # type: ignore[arg-type]


def covers(patterns: Sequence[Glob], pattern: Glob) -> bool:
    """True if every string ``pattern`` matches is matched by one of ``patterns``.

    Raises :class:`TooComplex` when the decision is too large to make exactly.
    """
    if not patterns:
        return False
    return _covers(tuple(patterns), pattern)


@lru_cache(maxsize=65536)
def _covers(patterns: tuple[Glob, ...], pattern: Glob) -> bool:
    if any(p.everything for p in patterns) or pattern in patterns:
        return True
    if pattern.concrete:
        value = "".join(str(t) for t in pattern.tokens)
        return any(p.matches(value) for p in patterns)
    # Cheap and sound first: one pattern that matches the other token by token
    # covers it; one instance of the pattern that none matches disproves it.
    if any(_syntactic_cover(p.tokens, pattern.tokens) for p in patterns):
        return True
    for value in _instances(pattern.tokens):
        if not any(p.matches(value) for p in patterns):
            return False
    candidates = tuple(p for p in patterns if not _disjoint(p, pattern))
    if not candidates:
        return False
    globs = (pattern, *candidates)
    return not nonempty(globs, lambda f: f[0] and not any(f[1:]))


# Stand-ins for the wildcards of the covered pattern when the covering one is
# matched against it as text (control characters never occur in ARNs).
_SYM = {ANY1: "\x01", STAR_SEG: "\x02", STAR_ALL: "\x03"}


@lru_cache(maxsize=65536)
def _symbolic_regex(tokens: tuple[Token, ...]) -> re.Pattern[str]:
    parts: list[str] = []
    for t in tokens:
        if t == ANY1:  # a non-colon character, or the other pattern's "?"
            parts.append("[^:\x02\x03]")
        elif t == STAR_SEG:  # anything without a colon, or the other's "?" and inner "*"
            parts.append("[^:\x03]*")
        elif t == STAR_ALL:
            parts.append(".*")
        else:
            parts.append(re.escape(str(t)))
    return re.compile("".join(parts), re.DOTALL)


def _syntactic_cover(a: tuple[Token, ...], b: tuple[Token, ...]) -> bool:
    """True if ``a`` matches ``b`` read as text with its wildcards as symbols: then a covers b."""
    text = "".join(_SYM[t] if isinstance(t, int) else t for t in b)
    if any(isinstance(t, str) and t in "\x01\x02\x03" for t in b):
        return False
    return _symbolic_regex(a).fullmatch(text) is not None


def _instances(tokens: tuple[Token, ...]) -> tuple[str, str]:
    """Two strings the pattern matches: wildcards as nothing (or one character), and as a few."""
    filler = "\ue000"
    short = "".join(t if isinstance(t, str) else filler if t == ANY1 else "" for t in tokens)
    long = "".join(t if isinstance(t, str) else filler if t == ANY1 else filler * 3 for t in tokens)
    return short, long


def _disjoint(a: Glob, b: Glob) -> bool:
    """A cheap, sound test: literal prefixes or suffixes that disagree mean no common string."""
    pa, pb = a.head, b.head
    if not (pa.startswith(pb) or pb.startswith(pa)):
        return True
    sa, sb = a.tail, b.tail
    return not (sa.endswith(sb) or sb.endswith(sa))


def intersect(a: Glob, b: Glob) -> tuple[Glob, ...]:
    """Globs whose union matches exactly the strings both ``a`` and ``b`` match; () if none."""
    if a.everything:
        return (b,)
    if b.everything:
        return (a,)
    if _disjoint(a, b):
        return ()
    # The most common case by far: one side is "literal*" (``bucket/*``,
    # ``table/*``) and the other starts with that literal, so it lies inside:
    # the product would give it back unchanged.
    if _open_prefix(b) and a.head.startswith(b.head):
        return (Glob(_normalize(a.tokens)),)
    if _open_prefix(a) and b.head.startswith(a.head):
        return (Glob(_normalize(b.tokens)),)
    return _intersect(a.tokens, b.tokens)


def _open_prefix(g: Glob) -> bool:
    """True if ``g`` is a literal followed by one ``*`` that ends it (it matches anything after)."""
    return bool(g.tokens) and g.tokens[-1] == STAR_ALL and len(g.head) == len(g.tokens) - 1


@lru_cache(maxsize=65536)
def _intersect(a: tuple[Token, ...], b: tuple[Token, ...]) -> tuple[Glob, ...]:
    # Literal heads and tails both patterns have must agree; the product only
    # needs the middles (ARNs share long literal prefixes such as arn:aws:s3:::).
    head = 0
    while head < min(len(a), len(b)) and isinstance(a[head], str) and isinstance(b[head], str):
        if a[head] != b[head]:
            return ()
        head += 1
    tail = 0
    while (
        tail < min(len(a), len(b)) - head
        and isinstance(a[-1 - tail], str)
        and isinstance(b[-1 - tail], str)
    ):
        if a[-1 - tail] != b[-1 - tail]:
            return ()
        tail += 1
    prefix, suffix = a[:head], a[len(a) - tail :]
    middle = _product(a[head : len(a) - tail], b[head : len(b) - tail])
    found = sorted({_normalize((*prefix, *t, *suffix)) for t in middle}, key=_order)
    kept = [Glob(t) for t in found]
    # Drop a glob the others cover (the narrowest first): each step keeps the union.
    for g in sorted(kept, key=lambda g: _order(g.tokens), reverse=True):
        others = tuple(k for k in kept if k is not g)
        try:
            if others and _covers(others, g):
                kept.remove(g)
        except TooComplex:
            continue
    return tuple(kept)


def _order(tokens: tuple[Token, ...]) -> tuple[int, str, str]:
    return (len(tokens), _render(tokens), repr(tokens))


@lru_cache(maxsize=65536)
def _product(a: tuple[Token, ...], b: tuple[Token, ...]) -> frozenset[tuple[Token, ...]]:
    @cache
    def inter(i: int, j: int) -> frozenset[tuple[Token, ...]]:
        if i == len(a) and j == len(b):
            return frozenset({()})
        if i == len(a):
            return frozenset({()}) if all(_is_star(t) for t in b[j:]) else frozenset()
        if j == len(b):
            return frozenset({()}) if all(_is_star(t) for t in a[i:]) else frozenset()
        x, y = a[i], b[j]
        out: set[tuple[Token, ...]] = set()
        if _is_star(x) and _is_star(y):
            # A string both stars' continuations accept: the shorter star's run is a
            # prefix of the longer one, so the result starts with the narrower star.
            star = min(int(x), int(y))
            for rest in inter(i + 1, j) | inter(i, j + 1):
                out.add((star, *rest))
        elif _is_star(x):
            out |= inter(i + 1, j)
            t = _meet_star(int(x), y)
            if t is not None:
                out |= {(t, *rest) for rest in inter(i, j + 1)}
        elif _is_star(y):
            out |= inter(i, j + 1)
            t = _meet_star(int(y), x)
            if t is not None:
                out |= {(t, *rest) for rest in inter(i + 1, j)}
        else:
            t = _meet_one(x, y)
            if t is not None:
                out |= {(t, *rest) for rest in inter(i + 1, j + 1)}
        return frozenset(out)

    result = inter(0, 0)
    inter.cache_clear()
    return result


def _meet_star(star: int, t: Token) -> Token | None:
    """What a star consuming the single-character token ``t`` leaves: ``t`` if it may."""
    if t == ANY1:
        return ANY1
    if star == STAR_SEG and t == ":":
        return None
    return t


def _meet_one(x: Token, y: Token) -> Token | None:
    if x == ANY1 and y == ANY1:
        return ANY1
    if x == ANY1:
        return y if y != ":" else None
    if y == ANY1:
        return x if x != ":" else None
    return x if x == y else None
