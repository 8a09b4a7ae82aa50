import math

import pytest
import sacrebleu

from course_utils.notebook.generation import generate
from course_utils.notebook.metrics import bleu, decoding_table, distinct_n, mean_sampled_reward


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


def test_distinct_n_by_hand():
    # unigrams: a b a b a b -> 2 distinct of 6; bigrams: (a b) (b a) (a b) | (a b) -> 2 distinct of 4
    assert distinct_n(["a b a b", "a b"], 1) == pytest.approx(2 / 6)
    assert distinct_n(["a b a b", "a b"], 2) == pytest.approx(2 / 4)
    assert distinct_n(["x y z"], 3) == 1.0


def test_distinct_n_counts_over_all_texts_so_identical_answers_score_low():
    assert distinct_n(["def f(): pass"] * 4, 1) == pytest.approx(3 / 12)


def test_distinct_n_without_ngrams_is_zero_and_bad_n_raises():
    assert distinct_n(["", "one"], 2) == 0.0
    with pytest.raises(ValueError, match="at least 1"):
        distinct_n(["a"], 0)


def test_decoding_table_has_one_row_per_strategy_with_the_greedy_bleu(tiny_model, tiny_tokenizer):
    prompts, references = ["def", "The sum of"], ["def add(a, b):", "two numbers"]
    strategies = {"greedy": {"do_sample": False}, "top-p 0.9": {"do_sample": True, "top_k": 0, "top_p": 0.9}}
    table = decoding_table(tiny_model, tiny_tokenizer, prompts, references, strategies, str.strip, max_new_tokens=6)
    assert list(table.index) == ["greedy", "top-p 0.9"]
    assert list(table.columns) == ["BLEU", "distinct-1", "distinct-2", "mean words"]
    greedy = [text.strip() for text in generate(tiny_model, tiny_tokenizer, prompts, max_new_tokens=6)]
    assert table.loc["greedy", "BLEU"] == round(bleu(greedy, references), 3)
    assert table.loc["greedy", "distinct-1"] == round(distinct_n(greedy, 1), 3)


def test_mean_sampled_reward_gives_every_model_the_same_draws(tiny_model, tiny_tokenizer):
    query_ids = [tiny_tokenizer.encode("def add", add_special_tokens=False), tiny_tokenizer.encode("Sort a list")]
    seen = []

    def reward_fn(texts):
        seen.append(texts)
        return [float(len(text)) for text in texts]

    options = {"do_sample": True, "top_k": 0, "top_p": 1.0}
    mean = mean_sampled_reward(tiny_model, tiny_tokenizer, query_ids, reward_fn, seed=3, **options)
    texts = seen[0]
    assert [text[: len("def add")] for text in texts] == ["def add", "Sort a "]  # each query, then its response
    assert mean == (len(texts[0]) + len(texts[1])) / 2
    # the same seed: the same responses; another seed: other responses (a sampled response of up to 15 tokens)
    assert mean_sampled_reward(tiny_model, tiny_tokenizer, query_ids, reward_fn, seed=3, **options) == mean
    mean_sampled_reward(tiny_model, tiny_tokenizer, query_ids, reward_fn, seed=4, **options)
    assert seen[1] == texts and seen[2] != texts
