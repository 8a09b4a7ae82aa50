"""Corpus BLEU (sacreBLEU) as a local `evaluate` module, so that no metric script is downloaded at run time."""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = "Corpus-level BLEU from sacreBLEU with its default 13a tokenizer; 0 to 100, higher is better."
_INPUTS = """
Args:
    predictions: list of generated strings.
    references: list of lists of reference strings (one list per prediction).
Returns:
    score: the corpus BLEU score (0-100).
"""


class CourseBleu(evaluate.Metric):
    """sacreBLEU's corpus BLEU, the number the `sacrebleu` metric on the Hub reports as ``score``."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Post, A Call for Clarity in Reporting BLEU Scores, WMT 2018.",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references):
        # sacreBLEU wants one list per reference *position*, each as long as the predictions.
        reference_streams = [list(stream) for stream in zip(*references, strict=True)]
        return {"score": sacrebleu.corpus_bleu(predictions, reference_streams).score}
