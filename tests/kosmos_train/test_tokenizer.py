"""SentencePiece BPE training from shards of every kind, and ids in the KOSMOS-1 vocabulary layout."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import sentencepiece as spm

from kosmos_train.data import synthetic as S
from kosmos_train.tokenizer import Tokenizer, corpus_sentences, train_sentencepiece, train_tokenizer
from kosmos_train.vocab import VocabLayout
from schemas.kinds import Kind, SchemaError

DOCS = [
    f"Document {i} talks about rivers and mountains.\nIts second line mentions number {i}." for i in range(30)
]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    pics = S.distinct_pictures(6)
    return {
        "text": S.write_corpus(root / "text", Kind.TEXT, S.text_samples(DOCS)),
        "image_text": S.write_corpus(root / "it", Kind.IMAGE_TEXT, S.image_text_samples(pics)),
        "interleaved": S.write_corpus(
            root / "il",
            Kind.INTERLEAVED,
            S.interleaved_samples([["A paragraph about zebras.", pics[0][0], "Another about quokkas."]]),
        ),
    }


@pytest.fixture(scope="module")
def tok(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("tokmodel") / "spm.model"
    return train_tokenizer([str(p) for p in corpora.values()], out, vocab_size=300)


def test_sentences_come_from_every_kind(corpora):
    got = list(corpus_sentences([str(p) for p in corpora.values()]))
    assert "Its second line mentions number 7." in got  # text documents, line by line
    assert "A green circle on a white background." in got  # captions
    assert "Another about quokkas." in got  # interleaved paragraphs
    assert len(got) == 2 * len(DOCS) + 6 + 2


def test_trained_model_is_bpe_with_default_controls(tok):
    sp = spm.SentencePieceProcessor(model_file=str(tok.path))
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    assert tok.sp_pieces == sp.get_piece_size() <= 300
    assert tok.layout == VocabLayout(tok.sp_pieces)


def test_ids_follow_the_layout_and_round_trip(tok):
    v = tok.layout
    text = "Document 12 talks about rivers and mountains."
    ids = tok.encode(text)
    assert ids and all(v.first_piece <= i < v.mask or i == v.unk for i in ids)
    assert tok.decode(ids) == text
    # specials never come out of encode; decode drops them or names them
    assert tok.decode([v.bos, *ids, v.line_end, v.eos]) == text
    assert tok.decode([v.bos, v.image, v.image_end], specials=True) == "<s> <image> </image>"
    sp = spm.SentencePieceProcessor(model_file=str(tok.path))
    assert [v.id_to_piece(i) for i in ids] == sp.encode(text)


def test_paper_size_layout_is_64007_ids(tmp_path):
    """64,000 pieces -> 64,007 ids; checked on the layout a loaded model would get."""
    assert VocabLayout(64_000).size == 64_007


def test_unseen_characters_round_trip_as_bytes(tok):
    """Byte fallback (the default): characters the model never saw are spelled as UTF-8 bytes."""
    ids = tok.encode("rivers, 漢字")
    assert tok.layout.unk not in ids and tok.decode(ids) == "rivers, 漢字"


def test_without_byte_fallback_unseen_characters_map_to_unk(corpora, tmp_path):
    from kosmos_train.tokenizer import train_tokenizer

    plain = train_tokenizer(
        [str(corpora["text"])], tmp_path / "plain.model", vocab_size=200, byte_fallback=False
    )
    ids = plain.encode("rivers 漢字")
    assert plain.layout.unk in ids and "⁇" in plain.decode(ids)


def test_loading_an_existing_model_and_a_clear_error(tok, tmp_path):
    again = Tokenizer(tok.path)
    assert again.encode("rivers") == tok.encode("rivers")
    with pytest.raises(FileNotFoundError):
        Tokenizer(tmp_path / "missing.model")
    odd = train_sentencepiece(
        ["some words here"] * 20, tmp_path / "odd.model", vocab_size=40, byte_fallback=False
    )
    assert Tokenizer(odd).sp_pieces <= 40  # a small corpus gives fewer pieces instead of failing
    with pytest.raises(SchemaError, match="too small.*no-byte-fallback"):
        train_sentencepiece(["some words here"] * 20, tmp_path / "tiny.model", vocab_size=40)


def test_cli_tokenizer(corpora, tmp_path, capsys):
    from kosmos_train.cli import main

    out = tmp_path / "cli.model"
    assert (
        main(["tokenizer", "--data", str(corpora["text"]), "--vocab-size", "400", "--output", str(out)]) == 0
    )
    assert out.exists() and "pieces" in capsys.readouterr().out
