"""The name similarity of the duplicate name groups (hygiene/names.py): rapidfuzz's bound only skips pairs, so the
pairs judged similar and the groups are exactly those of difflib's ratio over every pair (the rule as it was),
on varied names: unicode, empty, repeated characters, long names, many near-equal names, and pairs whose ratio
is exactly the threshold."""

import asyncio
import difflib
import random
import uuid

import pytest

from crm_customer.hygiene.names import (
    MATRIX_FROM,
    NAME_SIMILARITY,
    candidate_pairs,
    name_cluster_steps,
    name_clusters,
    normalize_name,
    similar,
    similarity_bound,
)
from crm_customer.hygiene.service import _clusters_of

ALPHABETS = ["ab", "abc ", "aeiou nrst", "ñáéíóúü ß", "日本語中文 ", "абвгд ", "😀🙂x ", "aaaaaaab"]


def ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def difflib_similar(a: str, b: str) -> bool:
    """The rule as the groups were computed before rapidfuzz: every pair through difflib."""
    return a == b or ratio(a, b) >= NAME_SIMILARITY


def difflib_groups(members: list[tuple[uuid.UUID, str]]) -> list[list[uuid.UUID]]:
    """Connected components of difflib_similar over every pair, sorted as name_clusters sorts them."""
    names = [normalize_name(n) for _, n in members]
    seen: set[int] = set()
    groups = []
    for start in range(len(members)):
        if start in seen:
            continue
        component, todo = [], [start]
        seen.add(start)
        while todo:
            i = todo.pop()
            component.append(members[i][0])
            for j in range(len(members)):
                if j not in seen and difflib_similar(names[i], names[j]):
                    seen.add(j)
                    todo.append(j)
        if len(component) > 1:
            groups.append(sorted(component, key=str))
    return sorted(groups, key=lambda g: str(g[0]))


def mutate(rng: random.Random, name: str, alphabet: str) -> str:
    """A near variant: a few characters replaced, dropped, inserted or doubled."""
    chars = list(name)
    for _ in range(rng.randint(0, 3)):
        op, at = rng.randrange(4), rng.randrange(len(chars) + 1)
        if op == 0 and at < len(chars):
            chars[at] = rng.choice(alphabet)
        elif op == 1 and at < len(chars):
            del chars[at]
        elif op == 2:
            chars.insert(at, rng.choice(alphabet))
        elif at < len(chars):
            chars.insert(at, chars[at])
    return "".join(chars)


def drawn_names(rng: random.Random, n: int) -> list[str]:
    """Names from one alphabet: random ones, variants of earlier ones, repeats, blanks."""
    alphabet = rng.choice(ALPHABETS)
    out: list[str] = []
    for _ in range(n):
        pick = rng.random()
        if out and pick < 0.5:
            out.append(mutate(rng, rng.choice(out), alphabet))
        elif pick < 0.55:
            out.append(rng.choice(["", " ", "...", alphabet[0] * rng.randint(1, 30)]))
        else:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return out


def lcs_length(a: str, b: str) -> int:
    """The longest common subsequence by the textbook dynamic programme (the hand computation)."""
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def test_the_bound_is_never_below_difflibs_ratio():
    rng = random.Random(13)
    pairs = 0
    for _ in range(120):
        names = [normalize_name(n) for n in drawn_names(rng, 12)]
        for a in names:
            for b in names:
                total = len(a) + len(b)
                assert similarity_bound(a, b) == (2.0 * lcs_length(a, b) / total if total else 1.0), (a, b)
                assert similarity_bound(a, b) >= ratio(a, b), (a, b)  # exactly, as floats: no margin
                pairs += 1
    assert pairs == 120 * 144


def test_candidates_hold_every_similar_pair_in_both_paths():
    rng = random.Random(1313)
    similar_seen = 0
    for size in (2, 5, MATRIX_FROM - 1, MATRIX_FROM, 60):  # per pair below MATRIX_FROM, one matrix from it
        for _ in range(20):
            names = [normalize_name(n) for n in drawn_names(rng, size)]
            expected = {(i, j) for i in range(size) for j in range(i + 1, size) if difflib_similar(names[i], names[j])}
            candidates = list(candidate_pairs(names))
            assert candidates == sorted(set(candidates))  # (i < j), in order, once each
            assert all(i < j for i, j in candidates)
            assert expected <= set(candidates)
            # The rule on the candidates answers difflib's, pair by pair.
            assert {(i, j) for i, j in candidates if similar(names[i], names[j])} == expected
            similar_seen += len(expected)
    assert similar_seen > 500  # the draws do hold many similar pairs


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("abcdefghijklmnopq", "abcdefghijklmnopqrst"),  # 34/37 = 0.919
        ("aaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaa"),
        ("abcdefghijklmnopqabc", "abcdefghijklmnopqxyz"),  # 2*17/40 = 0.85 exactly
        ("ñáéíóúüabcdefghijk", "ñáéíóúüabcdefghijk" + "xyz"),
        ("", ""),
        ("", "a"),
        ("a", "a"),
        ("ab", "ba"),
        ("aaaaaaaaaaaabaaaaaa", "aababbaaaaaaabaaaaaaa"),  # 0.85: rapidfuzz's Indel with a cutoff answered 0
    ],
)
def test_pairs_at_and_around_the_threshold(a, b):
    assert similar(a, b) == difflib_similar(a, b)
    assert similar(a, b) <= (similarity_bound(a, b) >= NAME_SIMILARITY)
    assert similar(a, b) <= ((0, 1) in list(candidate_pairs([a, b])))


def test_the_threshold_exactly():
    """Pairs whose difflib ratio is exactly 0.85 (17 of 20 characters matched on each side) are similar."""
    rng = random.Random(85)
    for _ in range(200):
        base = "".join(rng.choice("abcdefghij") for _ in range(17))
        a, b = base + "xyz", base + "uvw"
        assert ratio(a, b) == NAME_SIMILARITY
        assert similar(a, b)
        assert (0, 1) in list(candidate_pairs([a, b]))


def test_groups_equal_difflibs_over_every_pair():
    rng = random.Random(2026)
    grouped = 0
    for size in [2, 3, 7, 15, 16, 40, 120] * 6:
        members = [(uuid.uuid4(), n) for n in drawn_names(rng, size)]
        assert name_clusters(members) == difflib_groups(members)
        grouped += len(name_clusters(members))
    assert grouped > 50


def test_many_near_equal_names_yield_while_comparing():
    """A company of variants of one name: the comparisons pause every CONFIRM_STEP for the event loop, and the
    groups are still difflib's."""
    rng = random.Random(7)
    members = [(uuid.uuid4(), mutate(rng, "jonathan smithson", "abcdefgh")) for _ in range(200)]
    steps = name_cluster_steps(members)
    pauses = 0
    while True:
        try:
            next(steps)
            pauses += 1
        except StopIteration as done:
            groups = done.value
            break
    assert groups == difflib_groups(members) == name_clusters(members)
    assert pauses >= 1


async def test_a_batch_hands_the_event_loop_back_while_comparing():
    """The worker's batch runs on the event loop in slices (service._clusters_of): other tasks (requests) run
    between them, and the groups are name_clusters' company by company."""
    rng = random.Random(11)
    members = [
        (uuid.uuid4(), [(uuid.uuid4(), mutate(rng, "jonathan smithson", "abcdefgh")) for _ in range(200)])
        for _ in range(8)
    ]
    done, ticks = False, 0

    async def other_task() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    groups = await _clusters_of(members)
    done = True
    await ticker
    assert groups == [(company, ids) for company, people in members for ids in name_clusters(people)]
    assert ticks >= 5  # the loop came back during the batch (~60 times here; once without the slices)
