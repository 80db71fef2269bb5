"""Per-language quality rules: a document is judged by the rules of the language it was identified as."""

from __future__ import annotations

from filters.base import Drop, Keep
from filters.text_quality import (
    LANGUAGE_RULES,
    NEUTRAL_RULES,
    TextQualityConfig,
    TextQualityFilter,
    describe_language_rules,
    rules_for_language,
    tokenize,
)
from tests.multilingual_text import (
    CHINESE_SENTENCES,
    GERMAN_SENTENCES,
    good_documents,
    planted_bad_chinese,
    planted_bad_german,
)

JAPANESE = (
    "この町では去年から川に新しい橋を作り始めました。朝早くから工事の音がするので、多くの住民が困っています。"
    "市長は工事が秋までに終わると話しました。図書館では日曜日に子どもと親のための読書会があります。"
    "博物館では今年の夏、この地方の鉄道の歴史についての展示をしています。週末の市場では近くの村の農家が野菜を売っています。"
    "冬の間、湖は長く凍っていたので、その上でスケートをすることができました。学校は新しい庭を作り、生徒たちはトマトを育てています。"
)


def test_the_required_languages_have_their_own_rules() -> None:
    for lang in ("en", "de", "fr", "es", "it", "pt", "nl", "ru", "zh", "ja"):
        rules, own = rules_for_language(lang)
        assert own and rules is LANGUAGE_RULES[lang] and len(rules.stop_words) >= 8
    assert rules_for_language("de-AT")[0] is LANGUAGE_RULES["de"]
    assert rules_for_language("sv") == (NEUTRAL_RULES, False)
    thai, own = rules_for_language("th", "วันนี้อากาศดีมากและเราจะไปเที่ยวทะเลกับครอบครัวในตอนบ่าย")
    assert not own and thai.word_mode == "chars"  # no spaces between words: character units


def test_german_documents_pass_german_rules_not_english_ones() -> None:
    f = TextQualityFilter()
    for doc in good_documents(GERMAN_SENTENCES, 12):
        assert f(doc, "de")[0] == Keep()
        decision = f(doc)[0]  # English rules: no English stop words in German prose
        assert isinstance(decision, Drop) and decision.reason == "stop_words"
    for name, (text, reason) in planted_bad_german().items():
        decision = f(text, "de")[0]
        assert isinstance(decision, Drop) and decision.reason == reason, (name, decision)


def test_chinese_and_japanese_count_characters_as_words() -> None:
    f = TextQualityFilter()
    assert tokenize("我们去公园。", "chars") == ["我", "们", "去", "公", "园", "。"]
    assert tokenize("Tokyo 東京", "chars") == ["Tokyo", "東", "京"]
    for doc in good_documents(CHINESE_SENTENCES, 12, sep=""):
        assert f(doc, "zh")[0] == Keep()
        assert f(doc)[0] == Drop("too_few_words", f(doc)[0].detail)  # one "word" per line in English rules
    for name, (text, reason) in planted_bad_chinese().items():
        decision = f(text, "zh")[0]
        assert isinstance(decision, Drop) and decision.reason == reason, (name, decision)
    assert f(JAPANESE, "ja")[0] == Keep()


def test_neutral_rules_have_no_stop_word_rule_and_user_overrides_stay() -> None:
    swedish = "\n".join(
        [
            "Staden har börjat bygga en ny bro över floden och arbetet ska vara klart i höst.",
            "Många invånare klagar på bullret från bygget som börjar tidigt på morgonen.",
            "Biblioteket har nu en sagostund för barn och föräldrar varje söndag förmiddag.",
            "Museet visar i sommar en utställning om järnvägens historia i regionen.",
            "På torget säljer bönderna från byarna runt omkring grönsaker, ost och bröd.",
            "I vintras var sjön frusen så länge att man kunde åka skridskor på den.",
            "Skolan har anlagt en ny trädgård där eleverna odlar tomater och kryddor.",
        ]
    )
    f = TextQualityFilter()
    assert f(swedish, "sv")[0] == Keep()
    strict = TextQualityConfig()
    strict = type(strict)(
        gopher_quality=type(strict.gopher_quality)(min_doc_words=500),
        gopher_repetition=strict.gopher_repetition,
        c4=strict.c4,
    )
    doc = good_documents(GERMAN_SENTENCES, 1)[0]
    assert TextQualityFilter(strict)(doc, "de")[0].reason == "too_few_words"  # the user's 500 stays


def test_run_summary_line_names_the_fallback_languages() -> None:
    line = describe_language_rules(("de", "sv", "zh"))
    assert "de (German)" in line and "zh (Chinese)" in line and "language-neutral rules for sv" in line
