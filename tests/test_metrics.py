import math

import pytest
import sacrebleu

from course_utils.metrics import bleu


def test_bleu_identical_is_100():
    assert bleu(["def add(a, b): return a + b"], ["def add(a, b): return a + b"]) == pytest.approx(100.0)


def test_bleu_disjoint_is_0():
    assert bleu(["alpha beta gamma delta"], ["one two three four"]) == 0.0


def test_bleu_partial_match_by_hand():
    # pred "the cat sat on the mat" vs ref "the cat sat on a mat" (same length, so no brevity penalty):
    # clipped n-gram precisions 5/6, 3/5, 2/4, 1/3 -> BLEU = 100 * (1/12) ** (1/4).
    preds, refs = ["the cat sat on the mat"], ["the cat sat on a mat"]
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert bleu(preds, refs) == pytest.approx(expected)
    assert bleu(preds, refs) == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score)


def test_bleu_brevity_penalty_by_hand():
    # Every n-gram of the 6-token prediction matches; the reference has 7 tokens -> BP = exp(1 - 7/6).
    preds, refs = ["the cat sat on the mat"], ["the cat sat on the mat today"]
    assert bleu(preds, refs) == pytest.approx(100 * math.exp(1 - 7 / 6))


def test_bleu_is_corpus_level_not_a_mean_of_sentences():
    # n-gram counts are pooled over both pairs: 5/8, 3/6, 2/4, 1/3 (the second pair adds 2 unigrams and 1 bigram,
    # none matching). The mean of the sentence scores would be (53.73 + 0) / 2 instead.
    preds = ["the cat sat on the mat", "a b"]
    refs = ["the cat sat on a mat", "c d"]
    expected = 100 * (5 / 8 * 3 / 6 * 2 / 4 * 1 / 3) ** 0.25
    assert bleu(preds, refs) == pytest.approx(expected)
    assert bleu(preds, refs) == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score)


def test_bleu_pairs_predictions_with_references_in_order():
    # Swapping the references changes the score: prediction i is compared with reference i only.
    preds = ["the cat sat on the mat", "one two three four"]
    assert bleu(preds, ["the cat sat on the mat", "one two three four"]) == pytest.approx(100.0)
    assert bleu(preds, ["one two three four", "the cat sat on the mat"]) == 0.0


def test_bleu_length_mismatch_raises():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        bleu(["a", "b"], ["a"])


def test_bleu_empty_input_raises():
    with pytest.raises(ValueError, match="at least one"):
        bleu([], [])
