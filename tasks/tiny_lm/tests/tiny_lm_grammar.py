"""Hidden stochastic grammar for the tiny_lm corpus (scorer only; never shown to the agent).

Documents are one line each. Structure at several scales, so better models keep winning:
- a fixed lexicon built from syllables (nouns with plurals, verbs with agreement forms,
  adjectives, places), Zipf-distributed within each of 8 topics; a document has a topic;
- per-document invented names that recur (copying helps);
- subject-verb number agreement across relative clauses and prepositional phrases;
- quoted speech, lists with "and", parenthesized asides, capitalized sentence starts;
- small arithmetic facts ("3 and 4 make 7"), counting runs ("two, three, four").
`python tiny_lm_grammar.py` rebuilds ../environment/data/ from the public seeds.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import random
import sys
from pathlib import Path

LEXICON_SEED = 424242
PUBLIC_TRAIN_SEED = 1001
PUBLIC_VALID_SEED = 1002
PUBLIC_TRAIN_DOCS = 9000
PUBLIC_VALID_DOCS = 600

ONSETS = ["b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl", "kr",
          "pl", "st", "tr", "sh", "ch", "th", "w", "y", "sp", "sk", "fl"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ee", "oo", "ou", "ea", "io"]
CODAS = ["", "", "", "n", "m", "r", "l", "s", "t", "k", "nd", "rt", "sk", "ng", "x"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve"]
TOPICS = 8


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))


class Lexicon:
    def __init__(self, seed: int = LEXICON_SEED) -> None:
        rng = random.Random(seed)
        seen: set[str] = set()

        def fresh(lo: int, hi: int) -> str:
            while True:
                w = _word(rng, rng.randint(lo, hi))
                if w not in seen and 2 < len(w) < 12:
                    seen.add(w)
                    return w

        self.nouns = []
        for i in range(160):
            base = fresh(1, 2)
            plural = base + ("es" if base.endswith(("s", "x", "sh", "ch")) else "s")
            if i % 23 == 0:
                plural = base[:-1] + "ira" if len(base) > 3 else base + "en"
            self.nouns.append((base, plural))
        self.verbs = []
        for _ in range(90):
            base = fresh(1, 2)
            third = base + ("es" if base.endswith(("s", "x", "sh", "ch", "o")) else "s")
            past = base + ("d" if base.endswith("e") else "ed")
            self.verbs.append((base, third, past))
        self.adjectives = [fresh(1, 3) for _ in range(70)]
        self.places = [fresh(2, 3).capitalize() for _ in range(30)]
        self.preps = ["in", "near", "under", "with", "behind", "over", "beside"]
        # topics: each topic ranks the lexicon differently (Zipf over a topic-specific order)
        self.topic_orders = []
        for _ in range(TOPICS):
            self.topic_orders.append({
                "n": rng.sample(range(len(self.nouns)), len(self.nouns)),
                "v": rng.sample(range(len(self.verbs)), len(self.verbs)),
                "a": rng.sample(range(len(self.adjectives)), len(self.adjectives)),
                "p": rng.sample(range(len(self.places)), len(self.places)),
            })
        self.topic_names = [fresh(2, 2) for _ in range(TOPICS)]


@functools.cache
def _zipf_cumulative(n: int, s: float) -> list[float]:
    """Cumulative Zipf weights, exactly what random.choices would accumulate from the weights."""
    return list(itertools.accumulate(1 / (k + 1) ** s for k in range(n)))


def _zipf(rng: random.Random, order: list[int], s: float = 1.1) -> int:
    n = len(order)
    return order[rng.choices(range(n), cum_weights=_zipf_cumulative(n, s))[0]]


class DocGen:
    def __init__(self, lex: Lexicon, rng: random.Random) -> None:
        self.lex = lex
        self.rng = rng

    def noun(self, plural: bool) -> str:
        base, pl = self.lex.nouns[_zipf(self.rng, self.order["n"])]
        return pl if plural else base

    def verb(self, form: str) -> str:
        base, third, past = self.lex.verbs[_zipf(self.rng, self.order["v"])]
        return {"base": base, "third": third, "past": past}[form]

    def adj(self) -> str:
        return self.lex.adjectives[_zipf(self.rng, self.order["a"])]

    def np(self, depth: int = 0) -> tuple[str, bool]:
        rng = self.rng
        if rng.random() < 0.18 and self.names:
            return rng.choice(self.names), False
        plural = rng.random() < 0.4
        det = rng.choice(["the", "some", "many", "two", "these"] if plural else ["the", "a", "one", "this", "every"])
        words = [det]
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            words.append(self.adj())
        words.append(self.noun(plural))
        if depth < 2 and rng.random() < 0.25:
            words.append(rng.choice(self.lex.preps))
            words.append(self.np(depth + 1)[0])
        if depth < 1 and rng.random() < 0.22:
            words.append("that")
            words.append(self.vp(plural, depth + 1))
        return " ".join(words), plural

    def vp(self, plural: bool, depth: int = 0) -> str:
        form = "past" if self.tense == "past" else ("base" if plural else "third")
        words = [self.verb(form)]
        if self.rng.random() < 0.7:
            words.append(self.np(depth + 1)[0])
        if self.rng.random() < 0.2:
            words.append(self.rng.choice(["in", "near"]))
            words.append(self.lex.places[_zipf(self.rng, self.order["p"])])
        return " ".join(words)

    def sentence(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.08:
            a, b = rng.randint(0, 6), rng.randint(0, 6)
            name = rng.choice(self.names)
            return f"{name} counted {a} and {b} to make {a + b}."
        if kind < 0.13:
            start = rng.randint(0, 8)
            run = NUMBER_WORDS[start:start + rng.randint(3, 5)]
            return f"{rng.choice(self.names)} said {', '.join(run)}."
        if kind < 0.25:
            speaker = rng.choice(self.names)
            subj, plural = self.np()
            quote = f"{subj} {self.vp(plural)}"
            verb = "said" if self.tense == "past" else "says"
            return f'{speaker} {verb}, "{quote[0].upper()}{quote[1:]}."'
        if kind < 0.33:
            items = [self.noun(True) for _ in range(rng.randint(2, 4))]
            lst = ", ".join(items[:-1]) + " and " + items[-1]
            return f"There {'were' if self.tense == 'past' else 'are'} {lst} in {self.home}."
        subj, plural = self.np()
        body = f"{subj} {self.vp(plural)}"
        if rng.random() < 0.1:
            body += f" ({self.adj()} and {self.adj()})"
        return body[0].upper() + body[1:] + "."

    def document(self) -> str:
        rng = self.rng
        self.topic = rng.randrange(TOPICS)
        self.order = self.lex.topic_orders[self.topic]
        self.tense = rng.choice(["past", "present"])
        self.names = [_word(rng, rng.randint(2, 3)).capitalize() for _ in range(rng.randint(1, 3))]
        self.home = self.lex.places[_zipf(rng, self.order["p"])]
        head = f"{self.lex.topic_names[self.topic]}: {' and '.join(self.names)} of {self.home}."
        sentences = [head] + [self.sentence() for _ in range(rng.randint(2, 6))]
        return " ".join(sentences) + "\n"


_LEXICON: Lexicon | None = None


def documents(seed: int, count: int) -> list[str]:
    global _LEXICON
    if _LEXICON is None:
        _LEXICON = Lexicon()
    gen = DocGen(_LEXICON, random.Random(seed))
    return [gen.document() for _ in range(count)]


def write_public(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, seed, count in (("train", PUBLIC_TRAIN_SEED, PUBLIC_TRAIN_DOCS),
                              ("valid", PUBLIC_VALID_SEED, PUBLIC_VALID_DOCS)):
        text = "".join(documents(seed, count))
        with gzip.open(data_dir / f"{name}.txt.gz", "wt", encoding="ascii", compresslevel=9) as f:
            f.write(text)
        # gzip embeds a timestamp; keep the file byte-stable
        raw = (data_dir / f"{name}.txt.gz").read_bytes()
        (data_dir / f"{name}.txt.gz").write_bytes(raw[:4] + b"\x00\x00\x00\x00" + raw[8:])


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "environment" / "data"
    write_public(out)
    print(f"wrote {out}")
