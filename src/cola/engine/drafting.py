"""Draft tokens for greedy decoding: n-gram lookup over the prompt, the lane's own text and its peers.

Greedy decoding can check several guessed tokens in one forward and keep the longest
prefix the model itself would have produced (:func:`cola.engine.decoding.decode_lanes`), so
a guess costs compute but never changes the text. Broken chains often loop
(``x = 10\\n\\nx = 10\\n\\n...``), and even good ones copy numbers and phrases from the
question, so cheap guesses are right surprisingly often:

* **peers**: another generation for the same prompt (an earlier candidate chain of the
  sample, or one decoding beside this one) that produced exactly this lane's tokens so
  far and went further: its next tokens. Chains a few edits apart often write the same text.
* **n-gram lookup** ("prompt lookup decoding"): the latest earlier occurrence of the last
  ``n`` tokens (``n`` = :data:`NGRAM_MAX` down to :data:`NGRAM_MIN`) in the prompt plus the
  text so far, and what followed it, read on through the draft itself, so a loop of period
  ``p`` is drafted well past ``p`` tokens.

A draft's length adapts to how much of the last draft was accepted (doubling while drafts
hold, shrinking after a miss), up to :data:`DRAFT_MAX`. Every choice depends only on the
lane's prompt, its tokens so far and its peers' tokens, so two lanes that wrote the same
tokens draft the same and still share their computations.
"""

from __future__ import annotations

from collections.abc import Sequence

DRAFT_MAX = 16  # most drafted tokens checked in one step
# Most drafted tokens one lock-step round feeds over all its lanes. A round that feeds few
# tokens costs about one read of the weights, whatever it feeds; one that feeds many (many
# lanes, each with a long draft) is bound by arithmetic instead, and a rejected drafted
# token is then pure cost. So the lanes of a round share this budget: many lanes draft a
# little each, the few lanes left in a long generation draft up to DRAFT_MAX.
ROUND_DRAFT_TOKENS = 32
DRAFT_START = 8  # first draft length of a lane
DRAFT_MIN = 2  # draft length after a miss
NGRAM_MAX = 3  # longest suffix looked up
NGRAM_MIN = 1  # shortest suffix looked up


class DraftPool:
    """Token sequences generated for one prompt (earlier chains, and lanes decoding now)."""

    def __init__(self) -> None:
        self.sequences: list[list[int]] = []

    def add(self, tokens: list[int]) -> None:
        """Offer ``tokens`` as drafts to later lanes (the list may still grow: it is read live)."""
        self.sequences.append(tokens)


class NgramIndex:
    """Latest start of every 1..NGRAM_MAX-gram of a growing token sequence that has a continuation."""

    def __init__(self, tokens: Sequence[int] = ()) -> None:
        self.tokens: list[int] = []
        self.latest: dict[tuple[int, ...], int] = {}
        self.extend(tokens)

    def copy(self) -> NgramIndex:
        other = NgramIndex()
        other.tokens = list(self.tokens)
        other.latest = dict(self.latest)
        return other

    def extend(self, tokens: Sequence[int]) -> None:
        seq, latest = self.tokens, self.latest
        for token in tokens:
            end = len(seq)  # n-grams ending just before the new token now have a continuation
            for n in range(1, NGRAM_MAX + 1):
                if end - n >= 0:
                    latest[tuple(seq[end - n : end])] = end - n
            seq.append(token)

    def lookup(self, limit: int) -> list[int]:
        """Up to ``limit`` tokens that followed the latest earlier occurrence of the longest known suffix."""
        seq = self.tokens
        for n in range(min(NGRAM_MAX, len(seq)), NGRAM_MIN - 1, -1):
            start = self.latest.get(tuple(seq[-n:]))
            if start is None:
                continue
            draft: list[int] = []
            source = start + n
            while len(draft) < limit:  # read on into the draft itself: loops continue
                draft.append(seq[source] if source < len(seq) else draft[source - len(seq)])
                source += 1
            return draft
        return []


class Drafter:
    """Drafts for one lane: peers first (an exact match of the whole text so far), else n-grams."""

    def __init__(self, prompt_index: NgramIndex, tokens: list[int], pool: DraftPool | None = None):
        self.index = prompt_index.copy()
        self.tokens = tokens  # the lane's generated tokens (read live)
        self._indexed = 0
        self.length = DRAFT_START
        # Peers whose tokens agree with this lane's so far, and how far that was checked.
        self._peers = [[seq, 0] for seq in (pool.sequences if pool else []) if seq is not tokens]

    def propose(self, room: int) -> list[int]:
        """A draft for the tokens after this lane's, at most ``room`` long."""
        limit = min(self.length, room)
        if limit <= 0:
            return []
        tokens = self.tokens
        self.index.extend(tokens[self._indexed :])
        self._indexed = len(tokens)
        draft = self._from_peers(limit)
        return draft or self.index.lookup(limit)

    def _from_peers(self, limit: int) -> list[int]:
        tokens, size = self.tokens, len(self.tokens)
        best: list[int] = []
        alive = []
        for peer in self._peers:
            seq, checked = peer
            upto = min(size, len(seq))
            if seq[checked:upto] != tokens[checked:upto]:
                continue
            peer[1] = upto
            alive.append(peer)
            if len(seq) > size and len(best) < limit:
                more = seq[size : size + limit]
                if len(more) > len(best):
                    best = more
        self._peers = alive
        return best

    def accepted(self, offered: int, taken: int) -> None:
        """Adapt the draft length: ``taken`` of the ``offered`` drafted tokens matched the model."""
        if offered == 0:
            return
        if taken == offered:
            self.length = min(DRAFT_MAX, max(self.length, 2 * offered))
        else:
            self.length = max(DRAFT_MIN, 2 * taken)
