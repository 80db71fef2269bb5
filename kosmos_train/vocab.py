"""The KOSMOS-1 vocabulary layout, shared by the model and the tokenizer.

Layout (for the paper's 64,000-piece SentencePiece model this gives 64,007 ids):

    <s>=0  <pad>=1  </s>=2  <unk>=3
    the SentencePiece model's ordinary pieces, in its order      (ids 4 .. 4+P-4)
    <mask>  </doc>  <image>  </image>  </chunk>  </line>          (the next six ids)

SentencePiece's own control pieces (`<unk>`, `<s>`, `</s>`) are not repeated: they map onto the
fixed ids above, so P pieces give P - 3 ordinary entries. Any ids past `</line>` (a larger
`vocab_size`, e.g. Kosmos-2's grounding tokens) are appended after the layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HEAD_SPECIALS: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>")
TAIL_SPECIALS: tuple[str, ...] = ("<mask>", "</doc>", "<image>", "</image>", "</chunk>", "</line>")
SP_CONTROL_PIECES = 3  # <unk>, <s>, </s> inside the SentencePiece model
PAPER_SP_PIECES = 64_000


@dataclass(frozen=True)
class VocabLayout:
    """Token ids for a SentencePiece model of `sp_pieces` pieces (controls included)."""

    sp_pieces: int = PAPER_SP_PIECES

    bos: int = 0
    pad: int = 1
    eos: int = 2
    unk: int = 3
    first_piece: int = len(HEAD_SPECIALS)

    def __post_init__(self) -> None:
        if self.sp_pieces <= SP_CONTROL_PIECES:
            raise ValueError(f"a SentencePiece model needs more than {SP_CONTROL_PIECES} pieces")

    @property
    def ordinary_pieces(self) -> int:
        return self.sp_pieces - SP_CONTROL_PIECES

    @property
    def mask(self) -> int:
        return self.first_piece + self.ordinary_pieces

    @property
    def doc_end(self) -> int:
        return self.mask + 1

    @property
    def image(self) -> int:
        return self.mask + 2

    @property
    def image_end(self) -> int:
        return self.mask + 3

    @property
    def chunk_end(self) -> int:
        return self.mask + 4

    @property
    def line_end(self) -> int:
        return self.mask + 5

    @property
    def size(self) -> int:
        """Number of ids in the layout (64,007 for the paper's tokenizer)."""
        return self.mask + len(TAIL_SPECIALS)

    def special_ids(self) -> dict[str, int]:
        """Every special token's string mapped to its id."""
        head = {name: i for i, name in enumerate(HEAD_SPECIALS)}
        tail = {name: self.mask + i for i, name in enumerate(TAIL_SPECIALS)}
        return head | tail

    def piece_to_id(self, sp_id: int, sp_control_ids: Sequence[int] = (0, 1, 2)) -> int:
        """Our id for SentencePiece piece `sp_id` (an ordinary piece, not a control piece).

        `sp_control_ids` are the SentencePiece ids of its `<unk>`, `<s>`, `</s>` pieces
        (0, 1, 2 with SentencePiece's defaults); they are skipped when counting.
        """
        if sp_id in sp_control_ids:
            raise ValueError(f"piece {sp_id} is a control piece; use the fixed special ids")
        if not 0 <= sp_id < self.sp_pieces:
            raise ValueError(f"piece {sp_id} outside 0..{self.sp_pieces - 1}")
        return self.first_piece + sp_id - sum(1 for c in sp_control_ids if c < sp_id)

    def id_to_piece(self, token_id: int, sp_control_ids: Sequence[int] = (0, 1, 2)) -> int:
        """Inverse of `piece_to_id` for ids of ordinary pieces."""
        rank = token_id - self.first_piece
        if not 0 <= rank < self.ordinary_pieces:
            raise ValueError(f"id {token_id} is not an ordinary SentencePiece piece")
        sp_id = rank
        for c in sorted(sp_control_ids):  # step over each control piece at or below
            if c <= sp_id:
                sp_id += 1
        return sp_id

    def token_strings(self, sp_pieces: Sequence[str], sp_control_ids: Sequence[int] = (0, 1, 2)) -> list[str]:
        """The full vocabulary as strings, given the SentencePiece model's piece list."""
        if len(sp_pieces) != self.sp_pieces:
            raise ValueError(f"expected {self.sp_pieces} pieces, got {len(sp_pieces)}")
        controls = set(sp_control_ids)
        ordinary = [p for i, p in enumerate(sp_pieces) if i not in controls]
        return [*HEAD_SPECIALS, *ordinary, *TAIL_SPECIALS]
