"""Caption and VQA metrics, written out so they need neither Java nor the COCO toolkits.

- `caption_tokens`: a Python stand-in for the Stanford PTBTokenizer step of coco-caption
  (lower-case, split off punctuation and clitics, drop punctuation tokens). Real PTB output can
  differ on rare constructions; scores on ordinary captions match.
- `cider_d`: CIDEr-D exactly as pycocoevalcap's `CiderScorer` computes it (its "Cider" is
  CIDEr-D): tf-idf vectors of 1-4 grams with document frequencies over the references of the
  evaluated set, hypothesis counts clipped by the reference's, Gaussian length penalty
  sigma = 6 (length measured in bigrams, as the reference code does), averaged over references
  and n, times 10.
- `bleu`: corpus BLEU-1..4 as pycocoevalcap's `Bleu` ("closest" reference length, brevity
  penalty, clipped n-gram counts), so COCO numbers are comparable.
- `vqa_accuracy`: the official VQA evaluation (GT-Vision-Lab/VQA vqaEval.py): answer
  normalisation and min(#matching humans / 3, 1) averaged over the 10 leave-one-out subsets.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

# --- tokenisation -------------------------------------------------------------------------------

# The tokens coco-caption removes after PTB tokenisation. Its list has "-LRB-" etc., but it runs the
# tokenizer with -lowerCase, so brackets survive as "-lrb-": kept here too, to score the same.
PTB_PUNCTUATION = frozenset(["''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";", '"'])
PTB_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_CLITIC_NT = re.compile(r"(\w)n't\b", re.IGNORECASE)
_CLITIC = re.compile(r"(\w)'(s|re|ve|ll|d|m)\b", re.IGNORECASE)
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|\.\.\.|--|\d+:\d+|(?:[a-z]\.){2,}|\w+(?:[-./']\w+)*|\S")


def caption_tokens(text: str) -> list[str]:
    """Lower-cased PTB-style tokens without punctuation, as coco-caption scores them."""
    text = _CLITIC.sub(r"\1 '\2", _CLITIC_NT.sub(r"\1 n't", text.lower().replace("\n", " ")))
    return [PTB_BRACKETS.get(t, t) for t in _TOKEN.findall(text) if t not in PTB_PUNCTUATION]


def ngrams(words: Sequence[str], n: int = 4) -> Counter[tuple[str, ...]]:
    """Counts of every k-gram, k = 1..n."""
    return Counter(tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


# --- CIDEr-D ------------------------------------------------------------------------------------


def cider_d(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0
) -> tuple[float, list[float]]:
    """(corpus CIDEr-D, per-sample scores) for pre-tokenised, space-separated strings.

    Document frequencies come from the references of *these* samples, so the score of one
    caption depends on the set it is evaluated in (as in coco-caption).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        return 0.0, []
    refs = [[ngrams(r.split(), n) for r in rs] for rs in references]
    df: Counter[tuple[str, ...]] = Counter()
    for rs in refs:
        df.update({g for r in rs for g in r})
    log_n = math.log(float(len(refs)))

    def vector(counts: Counter[tuple[str, ...]]) -> tuple[list[dict], list[float], int]:
        vec: list[dict] = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            w = float(tf) * (log_n - math.log(max(1.0, df[gram])))
            vec[k][gram] = w
            norm[k] += w * w
            if k == 1:
                length += tf  # the reference code measures length in bigrams
        return vec, [math.sqrt(x) for x in norm], length

    scores = []
    for hyp, rs in zip(hypotheses, refs, strict=True):
        vh, nh, lh = vector(ngrams(hyp.split(), n))
        total = [0.0] * n
        for r in rs:
            vr, nr, lr = vector(r)
            penalty = math.exp(-((lh - lr) ** 2) / (2 * sigma**2))
            for k in range(n):
                dot = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vh[k].items())
                if nh[k] != 0 and nr[k] != 0:
                    dot /= nh[k] * nr[k]
                total[k] += dot * penalty
        scores.append(10.0 * (sum(total) / n) / len(rs))
    return sum(scores) / len(scores), scores


# --- BLEU ---------------------------------------------------------------------------------------


def bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], n: int = 4) -> list[float]:
    """Corpus BLEU-1..n of pre-tokenised strings (coco-caption's "closest" reference length).

    Clipped n-gram matches and guesses are summed over the corpus; the brevity penalty
    exp(1 - r/c) applies when the total hypothesis length c is below the summed closest
    reference lengths r. A zero n-gram precision gives BLEU 0 (no smoothing).
    """
    correct, guess = [0] * n, [0] * n
    test_len = ref_len = 0
    for hyp, rs in zip(hypotheses, references, strict=True):
        words = hyp.split()
        counts = ngrams(words, n)
        max_ref: Counter[tuple[str, ...]] = Counter()
        for r in rs:
            for gram, c in ngrams(r.split(), n).items():
                max_ref[gram] = max(max_ref[gram], c)
        test_len += len(words)
        ref_len += min((abs(len(r.split()) - len(words)), len(r.split())) for r in rs)[1]
        for k in range(n):
            guess[k] += max(0, len(words) - k)
        for gram, c in counts.items():
            correct[len(gram) - 1] += min(c, max_ref[gram])
    out = []
    log_p = 0.0
    for k in range(n):
        if correct[k] == 0 or guess[k] == 0:
            out.extend([0.0] * (n - k))
            break
        log_p += math.log(correct[k] / guess[k])
        out.append(math.exp(log_p / (k + 1)))
    if 0 < test_len < ref_len:
        bp = math.exp(1 - ref_len / test_len)
        out = [b * bp for b in out]
    return out


def caption_scores(
    predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[dict[str, float], list[float]]:
    """({CIDEr, BLEU-1..4} on the 0-100 scale papers report, per-sample CIDEr) for raw text."""
    hyps = [" ".join(caption_tokens(p)) for p in predictions]
    refs = [[" ".join(caption_tokens(r)) for r in rs] for rs in references]
    cider, per_sample = cider_d(hyps, refs)
    b = bleu(hyps, refs)
    metrics = {"CIDEr": 100 * cider, **{f"BLEU-{k + 1}": 100 * v for k, v in enumerate(b)}}
    return metrics, [100 * s for s in per_sample]


# --- VQA ----------------------------------------------------------------------------------------

_CONTRACTED = (
    "ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've hasn't haven't he'd "
    "he'd've he's how'd how'll how's I'd've I'm I've isn't it'd it'd've it'll let's ma'am mightn't mightn't've "
    "might've mustn't must've needn't not've o'clock oughtn't shan't she'd've she's should've shouldn't "
    "shouldn't've somebody'd somebody'd've somebody'll somebody's someone'd someone'd've someone'll someone's "
    "something'd something'd've something'll that's there'd there'd've there're there's they'd they'd've "
    "they'll they're they've 'twas wasn't we'd've we've weren't what'll what're what's what've when's where'd "
    "where's where've who'd who'd've who'll who's who've why'll why're why's won't would've wouldn't "
    "wouldn't've y'all y'all'll y'all'd've you'd you'd've you'll you're you've"
).split()


def _apostrophe_variants(word: str) -> set[str]:
    """The word with any non-empty subset of its apostrophes removed ("couldn'tve", "couldntve", ...)."""
    spots = [i for i, ch in enumerate(word) if ch == "'"]
    out = set()
    for mask in range(1, 2 ** len(spots)):
        drop = {spots[j] for j in range(len(spots)) if mask >> j & 1}
        out.add("".join(ch for i, ch in enumerate(word) if i not in drop))
    return out


# The official table maps each form written with some or all apostrophes missing back to the contraction.
VQA_CONTRACTIONS = {variant: w for w in _CONTRACTED for variant in _apostrophe_variants(w)}
VQA_NUMBERS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
VQA_ARTICLES = ("a", "an", "the")
# vqaEval.py's punct list, exactly (no ':' or "'": "2:30" and "man's" stay as they are).
VQA_PUNCT = (
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: the official pattern (a typo for a lookbehind)
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def vqa_punctuation(text: str) -> str:
    """The official processPunctuation: drop (or space out) punctuation, strip periods."""
    out = text
    for p in VQA_PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out)


def vqa_digits_articles(text: str) -> str:
    """The official processDigitArticle: lower-case, number words to digits, no articles."""
    words = [VQA_NUMBERS.get(w, w) for w in text.lower().split()]
    return " ".join(VQA_CONTRACTIONS.get(w, w) for w in words if w not in VQA_ARTICLES)


def normalize_vqa_answer(answer: str) -> str:
    """A model answer as the official evaluation compares it."""
    answer = answer.replace("\n", " ").replace("\t", " ").strip()
    return vqa_digits_articles(vqa_punctuation(answer))


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """VQA accuracy in [0, 1]: mean over leaving each human answer out of min(#others matching / 3, 1).

    With 10 answers that is the average over the 10 subsets of 9 the official code uses. Human
    answers get the punctuation step only, and only when they disagree (as officially).
    """
    if not answers:
        raise ValueError("a VQA question needs at least one human answer")
    pred = normalize_vqa_answer(prediction)
    gts = [a.replace("\n", " ").replace("\t", " ").strip() for a in answers]
    if len(set(gts)) > 1:
        gts = [vqa_punctuation(a) for a in gts]
    accs = []
    for i in range(len(gts)):
        matching = sum(1 for j, a in enumerate(gts) if j != i and a == pred)
        accs.append(min(1.0, matching / 3))
    return sum(accs) / len(accs)


# --- ROC and extractive QA ----------------------------------------------------------------------


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting half
    (the Mann-Whitney statistic, what sklearn's roc_auc_score computes)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        raise ValueError("AUROC needs both positive and negative labels")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def normalize_squad_answer(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_exact(prediction: str, answers: Sequence[str]) -> float:
    return float(max(normalize_squad_answer(prediction) == normalize_squad_answer(a) for a in answers))


def squad_f1(prediction: str, answers: Sequence[str]) -> float:
    """Token-overlap F1 against the best-matching answer (SQuAD v1.1 evaluate script)."""

    def f1(pred: list[str], gold: list[str]) -> float:
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold:
            return float(pred == gold)
        if common == 0:
            return 0.0
        p, r = common / len(pred), common / len(gold)
        return 2 * p * r / (p + r)

    pred = normalize_squad_answer(prediction).split()
    return max(f1(pred, normalize_squad_answer(a).split()) for a in answers)
