"""Generated documents for the tests that need real-looking prose (dedup, MinHash, the text pipeline).

Sentences are built from templates whose slots draw on a few hundred English words (nouns,
verbs in their forms, adjectives, adverbs, places, names, numbers), so that:

- distinct documents share almost no word 5-grams (as distinct web pages do), and a copy with a
  few words edited keeps a 5-gram Jaccard near 0.9, the regime the near-dedup threshold is for;
- documents pass the Gopher quality and repetition rules and the C4 line rules (stop words,
  word lengths, every line a sentence ending in punctuation, no repeated lines);
- fastText identifies them as English (or German, for `german_document`) with a high score;
- the text carries what normalisation must handle: capitals, commas, quotes, apostrophes,
  digits, hyphens and a few accented words.

Everything is a pure function of the seed: the same seed gives the same text on every machine.
"""

from __future__ import annotations

import random
import re

_NOUNS = """
river mountain city history science music garden winter summer school market bridge library ocean
forest village engine doctor painter harbor island castle festival railway bakery museum lantern
orchard valley teacher farmer student council report letter journey season harvest storm record
factory hospital kitchen window theatre newspaper painting machine question answer decision
language problem reason method result picture station station-master neighbour customer author
soldier captain sailor merchant printer builder gardener musician scientist engineer librarian
director manager reporter visitor witness climber traveller pilot driver singer dancer baker
butcher carpenter weaver potter miller shepherd hunter fisherman tailor cook nurse judge lawyer
minister mayor officer clerk courier inspector chemist geologist historian novelist poet critic
audience crowd family committee company government university hotel restaurant prison chapel
tower street square road path canal lake coast desert meadow field hill cave island-hopper
telescope microscope compass map diary notebook ledger envelope parcel ticket invitation
contract agreement treaty argument experiment lecture exhibition concert ceremony election
""".split()
_PLURALS = {
    "family": "families",
    "company": "companies",
    "university": "universities",
    "library": "libraries",
}
_ADJECTIVES = """
old new small large quiet busy early late bright dark cold warm heavy light careful honest
famous local foreign ancient modern simple strange familiar narrow wide rough smooth gentle
patient curious anxious proud humble clever stubborn generous nervous cheerful serious elegant
fragile sturdy hidden public private distant nearby crowded empty wooden golden silver rusty
muddy sunny rainy windy frozen dusty faded colourful expensive cheap rare common useful
dangerous safe broken complete northern southern eastern western coastal rural urban yearly
""".split()
_ADVERBS = """
quickly slowly carefully quietly suddenly finally gradually eagerly rarely often usually
proudly nervously happily sadly loudly gently firmly openly briefly clearly recently
""".split()
# (base, past, past participle); the third person singular is derived.
_VERBS = [
    ("build", "built", "built"),
    ("find", "found", "found"),
    ("write", "wrote", "written"),
    ("carry", "carried", "carried"),
    ("paint", "painted", "painted"),
    ("visit", "visited", "visited"),
    ("repair", "repaired", "repaired"),
    ("describe", "described", "described"),
    ("follow", "followed", "followed"),
    ("measure", "measured", "measured"),
    ("collect", "collected", "collected"),
    ("discover", "discovered", "discovered"),
    ("protect", "protected", "protected"),
    ("design", "designed", "designed"),
    ("study", "studied", "studied"),
    ("open", "opened", "opened"),
    ("close", "closed", "closed"),
    ("sell", "sold", "sold"),
    ("buy", "bought", "bought"),
    ("teach", "taught", "taught"),
    ("watch", "watched", "watched"),
    ("explain", "explained", "explained"),
    ("improve", "improved", "improved"),
    ("replace", "replaced", "replaced"),
    ("move", "moved", "moved"),
    ("publish", "published", "published"),
    ("organise", "organised", "organised"),
    ("question", "questioned", "questioned"),
    ("welcome", "welcomed", "welcomed"),
    ("remember", "remembered", "remembered"),
    ("draw", "drew", "drawn"),
    ("choose", "chose", "chosen"),
    ("bring", "brought", "brought"),
    ("keep", "kept", "kept"),
    ("leave", "left", "left"),
    ("send", "sent", "sent"),
    ("show", "showed", "shown"),
    ("hide", "hid", "hidden"),
    ("catch", "caught", "caught"),
    ("feed", "fed", "fed"),
]
_PLACES = """
Lisbon Oslo Vienna Glasgow Boston Denver Quebec Madras Seville Bergen Dublin Krakow Porto Hobart
Nairobi Halifax Tromso Galway Lyon Turin Cardiff Leeds Perth Dakar Lima Quito Austin Tucson
""".split()
_NAMES = """
Anna Peter Maria James Clara Thomas Elena Samuel Ruth Daniel Julia Martin Helen Oscar Grace
Victor Alice Henry Nora Felix Irene Walter Lucy Arthur Mabel Louis Edith Frank Agnes Hugo
""".split()
_PREPOSITIONS = "near behind beside across under above beyond along through inside outside".split()
_QUOTES = ["naïve plans", "a café on the corner", "the façade", "an old rôle", "déjà vu"]

_TEMPLATES = [
    "{Det} {adj} {noun} {past} {det} {noun} {prep} {det} {noun}.",
    "{Name} said that {det} {noun} had {pp} {det} {adj} {noun} {adv}.",
    "In {year}, {det} {noun} of {place} {past} {num} {nouns} for {det} {noun}.",
    "{Dets} {nouns} {base} {adv}, and {det} {noun} {third} {det} {adj} {noun}.",
    "When {det} {noun} {past} {det} {noun}, {pron} {past} {det} {adj} {noun} {prep} {det} {noun}.",
    "Many {nouns} in {place} have {pp} {det} {adj} {noun} since {year}.",
    "It was {adj} to see how {det} {nouns} {past} {det} {noun} {adv}.",
    'The {noun} called it "{quote}", and {name} {past} {det} {noun} {prep} {det} {noun}.',
    "Why would {det} {adj} {noun} {base} {det} {noun} {prep} {det} {noun}?",
    "{Name}'s {noun} {past} {num} {adj} {nouns}, but {det} {noun} was {adj}.",
    "By {month}, {det} {noun} and {det} {noun} were {adv} {pp} by {det} {adj} {noun}.",
    "{Det} {noun} near {place} is {adj}; {pron} {third} {det} {nouns} every {month}.",
    "Nobody {past} that {det} {adj} {noun} would {base} {det} {noun} of {place}.",
    "{Name} and {name} {past} {det} {adj}-{adj} {noun} with {det} {noun} {adv}.",
]
_MONTHS = "January February March April May June July August September October November December".split()

_DE_NOUNS = """
Haus Stadt Garten Fluss Berg Schule Markt Brücke Wald Dorf Lehrer Bauer Zeitung Küche Fenster Bahnhof
Arzt Maler Hafen Insel Schloss Fest Bäckerei Museum Laterne Tal Brief Reise Sturm Fabrik Zimmer Turm
""".split()
_DE_ADJECTIVES = "alte neue kleine große stille laute frühe späte helle dunkle kalte warme schwere".split()
_DE_VERBS = "baute fand schrieb trug malte besuchte reparierte beschrieb folgte sammelte öffnete".split()
_DE_TEMPLATES = [
    "Der {adj} {noun} {verb} gestern das {noun} neben dem {noun}.",
    "Im Jahr {year} {verb} die Gemeinde von {place} einen {adj} {noun} für das {noun}.",
    "Niemand wusste, warum der {noun} den {adj} {noun} so langsam {verb}.",
    "Viele Leute aus {place} sagen, dass der {noun} sehr {adj} ist und das {noun} auch.",
    "Als der {noun} das {noun} {verb}, war es schon spät und der {noun} war {adj}.",
]


def _plural(noun: str) -> str:
    if noun in _PLURALS:
        return _PLURALS[noun]
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def _third(base: str) -> str:
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + ("es" if base.endswith(("s", "sh", "ch", "x")) else "s")


def _fill(template: str, r: random.Random) -> str:
    def slot(match: re.Match[str]) -> str:
        name = match.group(1)
        low = name.lower()
        verb = r.choice(_VERBS)
        value = {
            "det": lambda: r.choice(["the", "a", "this", "that", "every", "one", "our", "their"]),
            "dets": lambda: r.choice(["the", "these", "those", "many", "some", "our", "their"]),
            "adj": lambda: r.choice(_ADJECTIVES),
            "noun": lambda: r.choice(_NOUNS),
            "nouns": lambda: _plural(r.choice(_NOUNS)),
            "adv": lambda: r.choice(_ADVERBS),
            "prep": lambda: r.choice(_PREPOSITIONS),
            "place": lambda: r.choice(_PLACES),
            "name": lambda: r.choice(_NAMES),
            "pron": lambda: r.choice(["she", "he", "they", "we", "it"]),
            "base": lambda: verb[0],
            "third": lambda: _third(verb[0]),
            "past": lambda: verb[1],
            "pp": lambda: verb[2],
            "year": lambda: str(r.randint(1820, 2024)),
            "num": lambda: str(r.randint(2, 90)),
            "month": lambda: r.choice(_MONTHS),
            "quote": lambda: r.choice(_QUOTES),
        }[low]()
        return value[0].upper() + value[1:] if name[0].isupper() else value

    return re.sub(r"\{(\w+)\}", slot, template)


def english_sentence(r: random.Random) -> str:
    """One sentence from a random template."""
    return _fill(r.choice(_TEMPLATES), r)


def english_document(seed: int, words: int = 250, paragraph_sentences: tuple[int, int] = (3, 6)) -> str:
    """About `words` words of English prose in paragraphs (one per line, blank line between)."""
    r = random.Random(f"en-{seed}")
    paragraphs: list[str] = []
    count = 0
    while count < words:
        sentences = [english_sentence(r) for _ in range(r.randint(*paragraph_sentences))]
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        count += len(paragraph.split())
    return "\n\n".join(paragraphs)


def english_documents(n: int, words: int = 250, start: int = 0) -> list[str]:
    """`n` distinct documents (seeds start .. start + n - 1)."""
    return [english_document(start + i, words) for i in range(n)]


def german_document(seed: int, sentences: int = 12) -> str:
    """German prose that fastText labels `de`: for the language filter's drops."""
    r = random.Random(f"de-{seed}")
    out = []
    for _ in range(sentences):
        template = r.choice(_DE_TEMPLATES)
        out.append(
            re.sub(
                r"\{(\w+)\}",
                lambda m: {
                    "adj": lambda: r.choice(_DE_ADJECTIVES),
                    "noun": lambda: r.choice(_DE_NOUNS),
                    "verb": lambda: r.choice(_DE_VERBS),
                    "year": lambda: str(r.randint(1850, 2020)),
                    "place": lambda: r.choice(["Bremen", "Kassel", "Ulm", "Jena", "Trier", "Passau"]),
                }[m.group(1)](),
                template,
            )
        )
    return " ".join(out)


def edit_words(text: str, n_edits: int, seed: int) -> str:
    """The text with `n_edits` words replaced (line structure kept: the C4 rules look at lines)."""
    r = random.Random(seed)
    parts = re.split(r"(\s+)", text)
    positions = [i for i, p in enumerate(parts) if p and not p.isspace()]
    for i in r.sample(positions, n_edits):
        end = parts[i][-1] if parts[i][-1] in ".!?;," else ""
        parts[i] = r.choice(["zebra", "quartz", "lemonade", "saxophone"]) + end
    return "".join(parts)
