"""The local engine's fast paths give what the plain way gives: `similar_pairs` (prefix-filtered)
the pairs of the plain count over every shared rare member, at the engine's thresholds and at the
edges; the paraphrase finder's features, whose patterns are skipped on a text that lacks what
every match holds, the features of running every pattern."""

import random
from collections import defaultdict
from itertools import combinations

import os

import pytest

from memfs.dream.engines import paraphrase
from memfs.dream.engines.text import DF_CAP, NOTE_JACCARD, UNIT_JACCARD, shingles, similar_pairs, words


def reference(sets, threshold, df_cap=DF_CAP):
    """The count the engine used before prefix filtering: every pair sharing a rare member."""
    index = defaultdict(list)
    for i, s in enumerate(sets):
        for h in s:
            index[h].append(i)
    shared = defaultdict(int)
    for ids in index.values():
        if 1 < len(ids) <= df_cap:
            for a, b in combinations(ids, 2):
                shared[(a, b)] += 1
    out = []
    for (a, b), n in shared.items():
        j = n / (len(sets[a]) + len(sets[b]) - n)
        if j >= threshold:
            out.append((a, b, round(j, 3)))
    return sorted(out)


def corpus(seed, n=600):
    """Sets of varied sizes over a skewed vocabulary, with near copies (members dropped, added,
    swapped) so that many pairs sit near the thresholds, and some members common enough to pass
    the df cap."""
    rng = random.Random(seed)
    weights = [1.0 / (k + 1) ** 0.8 for k in range(3000)]
    sets = []
    for i in range(n):
        if sets and rng.random() < 0.4:
            s = set(rng.choice(sets))
            for _ in range(rng.randrange(0, 5)):
                if s and rng.random() < 0.5:
                    s.discard(rng.choice(sorted(s)))
                else:
                    s.add(rng.choices(range(3000), weights)[0])
        else:
            s = set(rng.choices(range(3000), weights, k=rng.randrange(1, 40)))
        sets.append(s)
    sets.append(set())  # an empty set pairs with nothing
    return sets


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [NOTE_JACCARD, UNIT_JACCARD, 0.5, 1.0])
def test_same_pairs_as_the_plain_count(seed, threshold):
    sets = corpus(seed)
    want = reference(sets, threshold)
    assert similar_pairs(sets, threshold) == want
    assert want, "the corpus must have pairs at this threshold, or the comparison proves nothing"


def test_df_cap_and_exact_threshold():
    # a member held by more sets than the cap is not shared: 41 copies of {1, 2} pair with nothing
    assert similar_pairs([{1, 2}] * 41, 0.5, df_cap=40) == []
    assert similar_pairs([{1, 2}] * 40, 0.5, df_cap=40) == reference([{1, 2}] * 40, 0.5, df_cap=40)
    # Jaccard exactly at the threshold counts: 3 shared of 4 in all
    assert similar_pairs([{1, 2, 3}, {1, 2, 3, 4}], 0.75) == [(0, 1, 0.75)]
    assert similar_pairs([{1, 2, 3}, {1, 2, 3, 4, 5}], 0.75) == []


def test_real_paragraphs():
    text = [f"- check df -h and df -i on host{k % 17} before paging, then {w}" for k in range(300)
            for w in ("rotate the logs", "restart nginx") if (k * 7 + len(w)) % 5]
    sets = [shingles(words(t), 2) for t in text]
    assert similar_pairs(sets, UNIT_JACCARD) == reference(sets, UNIT_JACCARD)


EDGES = ["see docs.example.com/x and a.b", "Ab-cd_ef:gh ijK LMNOP v2.3.1 10.0.0.1:5432 --replicas=12 -x",
         "camelCase and PascalCaseWord, ERRNO42, #ops-alerts, 30s 1,024 4.5GB", "e.g. foo. Bar", "no-digit.here",
         "ends with 7", "--flag-only", "a:b:c x_y", "URL https://api-eu-2.internal:8443/v1?q=1", "@scope/pkg-1.2",
         "sixty minutes, two hours, don't", "ABC_DEF=1 and ABCD", "x.Y", "1.2", "-- not a flag", "~/.ssh/config"]


def test_features_are_those_of_running_every_pattern(monkeypatch):
    here = os.path.dirname(os.path.abspath(__file__))
    texts = [t for same, related in paraphrase.load_groups(os.path.join(here, "data", "paraphrase_pairs.txt"))
             for t in same + related] + EDGES
    fast = [paraphrase.features(t) for t in texts]
    monkeypatch.setattr(paraphrase, "_PLAN", [(kind, rx, None, None) for kind, rx in paraphrase._IDENTS])
    paraphrase._WORD_FEATURES.clear()
    plain = [paraphrase.features(t) for t in texts]
    assert [(f.idents, f.words, f.negated) for f in fast] == [(f.idents, f.words, f.negated) for f in plain]
    assert sum(1 for f in plain if f.idents) > len(texts) // 2  # most texts name something: the gates matter
