"""Which members of a company probably are the same person by name: normalized names that are equal or whose
difflib ratio (Ratcliff-Obershelp, autojunk off) is >= NAME_SIMILARITY, grouped transitively.

difflib is pure Python, so comparing every pair held the GIL for all of the name groups' catch-up and slowed
every read of the process (issue 13; bench/hygiene/name_groups.py). Each pair is first bounded in C by
2*LCS/(len a + len b), LCS the longest common subsequence (rapidfuzz, bit-parallel): difflib's ratio is
2*M/(len a + len b), M the sum of its matching blocks, which are a common subsequence (increasing in both
names), so M <= LCS and the bound is never below the ratio. A pair under the bound is never similar; difflib
still decides every pair above it (few: ~1 in 40 of the pairs of real member lists), so the groups are exactly
difflib's (tests/customer/test_name_similarity.py)."""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Generator, Iterator, Sequence

import numpy as np
from rapidfuzz.distance import LCSseq
from rapidfuzz.process import cdist

NAME_SIMILARITY = 0.85
MATRIX_FROM = 16  # members from which one cdist call (the matrix in C, GIL released) beats a call per pair
CONFIRM_STEP = 32  # difflib comparisons between two points where a caller may yield (name_cluster_steps)
_PUNCT = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def normalize_name(name: str) -> str:
    return _SPACES.sub(" ", _PUNCT.sub(" ", name.lower())).strip()


def similar(a: str, b: str) -> bool:
    """The rule itself: equal, or difflib's ratio >= NAME_SIMILARITY."""
    return a == b or difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= NAME_SIMILARITY


def similarity_bound(a: str, b: str) -> float:
    """An upper bound of difflib's ratio, computed as difflib computes the ratio (2.0 * matched / total) with the
    LCS for the matched characters: float division rounds monotonically, so it is never below difflib's float
    and needs no margin at the threshold. (rapidfuzz's own score_cutoff is not used: Indel's normalized
    similarity with a cutoff a hair under a pair's score answered 0 in rapidfuzz 3.14.)"""
    total = len(a) + len(b)
    return 2.0 * LCSseq.similarity(a, b) / total if total else 1.0


def candidate_pairs(names: Sequence[str]) -> Iterator[tuple[int, int]]:
    """Pairs (i < j) whose bound reaches NAME_SIMILARITY, in (i, j) order: a superset of the similar pairs."""
    if len(names) < MATRIX_FROM:
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                if similarity_bound(a, names[j]) >= NAME_SIMILARITY:
                    yield i, j
        return
    lcs = cdist(names, names, scorer=LCSseq.similarity, dtype=np.int32)
    lengths = np.array([len(n) for n in names], dtype=np.float64)
    total = lengths[:, None] + lengths[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0: two empty names, equal
        reach = (2.0 * lcs / total >= NAME_SIMILARITY) | (total == 0)
    rows, cols = np.nonzero(np.triu(reach, 1))  # row-major: (i, j) order
    yield from zip(rows.tolist(), cols.tolist(), strict=True)


def name_cluster_steps(
    members: Sequence[tuple[uuid.UUID, str]],
) -> Generator[None, None, list[list[uuid.UUID]]]:
    """name_clusters, yielding every CONFIRM_STEP difflib comparisons so that an async caller can let other
    work run (a company of many near-equal names is the slow case); returns the groups."""
    names = [normalize_name(n) for _, n in members]
    parent = list(range(len(members)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    compared = 0
    for i, j in candidate_pairs(names):
        if root(i) == root(j):
            continue  # already one group: the pair changes nothing
        compared += 1
        if compared % CONFIRM_STEP == 0:
            yield
        if similar(names[i], names[j]):
            parent[root(j)] = root(i)
    groups: dict[int, list[uuid.UUID]] = {}
    for i, (member_id, _) in enumerate(members):
        groups.setdefault(root(i), []).append(member_id)
    return sorted((sorted(g, key=str) for g in groups.values() if len(g) > 1), key=lambda g: str(g[0]))


def name_clusters(members: Sequence[tuple[uuid.UUID, str]]) -> list[list[uuid.UUID]]:
    """Groups of members whose normalized names are equal or similar (difflib ratio >= NAME_SIMILARITY,
    transitively), each sorted by id; singletons are dropped."""
    steps = name_cluster_steps(members)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            groups: list[list[uuid.UUID]] = done.value
            return groups
