#!/usr/bin/env python3
"""The reference for loom's `tokenizer` stage: GPT-2's byte-level BPE in plain Python (standard
library only, no PyTorch, no network). It trains a small vocabulary on the corpus below, writes
it as GPT-2 files (vocab.json, merges.txt) and writes the token ids of the test strings, which
tests/test_tokenizer.cpp checks the C++ tokenizer against:

    python3 tools/reference/make_tokenizer_goldens.py tests/model/tokenizer

The encoder is GPT-2's own algorithm (encoder.py: repeatedly merge the lowest-ranked pair), a
different one from the C++ heap-based merge, so the goldens check the C++ code rather than
repeat it. The pre-tokenizer is written out by hand with the same character classes as the
C++ one (Unicode general categories from `unicodedata`); when the `regex` module is installed it
is also checked against GPT-2's regular expression on every test string and the corpus.
"""
import json
import pathlib
import sys
import unicodedata

# Tokens every test vocabulary knows beyond the bytes and merges; recognised whole in text.
SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>"]
MERGES = 400

CORPUS = """\
The quick brown fox jumps over the lazy dog. It's the dog's day; they're sure we've won.
I'm here, you'll see, he'd go. Don't stop! Numbers: 12345, 2024, 3.14159 and 42 apples.
Tokenizers split text into pieces, then merge the pieces that appear together most often.
The model reads tokens, not letters: a token is a byte, or a merge of two tokens before it.
Le café est très bon à Paris; l'été, les élèves étudient près de la forêt.
Über den Wolken muß die Freiheit wohl grenzenlos sein, sagte der Bäcker in München.
El niño comió piñas y jalapeños en la mañana.
東京は日本の首都です。東京の人口はとても多いです。
我们喜欢学习中文和日本语。学习很有意思。
    indented line
\ttabbed line
multiple   spaces   here
"""

# name, text: the strings whose ids the C++ tests check.
CASES = [
    ("ascii", "Hello world"),
    ("sentence", "The quick brown fox jumps over the lazy dog."),
    ("contractions", "It's here, they're sure, we've won, I'm in, you'll see, he'd go, don't"),
    ("apostrophe_alone", "'' 'x rock'n'roll O'Neil"),
    ("spaces_and_newlines", "  two leading\n\nblank line\t tab   three spaces  \n"),
    ("trailing_spaces", "end   "),
    ("digits", "12345 2024 3.14159 42apples x9"),
    ("punctuation", "Hi!!! (a) [b] {c} -- ...?! @#$%^&*"),
    ("accented_latin", "Le café est très bon, l'été à Paris. Über München."),
    ("cjk", "東京は日本の首都です。我们喜欢学习中文。"),
    ("emoji", "I 🦊 love 👍🏽 pizza 🍕!"),
    ("byte_fallback", "zqxj Ωμέγα ∑ \u00a0nbsp \u2003em Ǆ"),
    ("special_tokens", "first<|endoftext|>second <|pad|><|pad|>third"),
    ("mixed", "Model v2.0: 100% done ✓ — naïve coöperation 日本 2024年"),
    ("empty", ""),
]

# Unicode's White_Space property, what `\s` matches in the `regex` module.
WHITE_SPACE = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
               0x2028, 0x2029, 0x202F, 0x205F, 0x3000}

CONTRACTIONS = ["s", "t", "re", "ve", "m", "ll", "d"]

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def bytes_to_unicode():
    """GPT-2's table: printable bytes stand for themselves, the others for code points 256+."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
                 list(range(ord("®"), ord("ÿ") + 1)))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


BYTE_TO_CHAR = bytes_to_unicode()


def char_class(ch):
    if ord(ch) in WHITE_SPACE:
        return "space"
    category = unicodedata.category(ch)[0]
    return {"L": "letter", "N": "number"}.get(category, "other")


def pretokenize(text):
    """GPT-2's regular expression, alternative by alternative, over code points."""
    pieces = []
    i, n = 0, len(text)
    while i < n:
        end = None
        if text[i] == "'":
            for suffix in CONTRACTIONS:
                if text.startswith(suffix, i + 1):
                    end = i + 1 + len(suffix)
                    break
        if end is None:
            # ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one leading space joins the run.
            start = i + 1 if text[i] == " " and i + 1 < n and char_class(text[i + 1]) != "space" \
                else i
            kind = char_class(text[start])
            if kind != "space":
                end = start + 1
                while end < n and char_class(text[end]) == kind:
                    end += 1
        if end is None:
            # `\s+(?!\S)` leaves the last space of a run for the word after it; `\s+` otherwise.
            end = i + 1
            while end < n and char_class(text[end]) == "space":
                end += 1
            if end < n and end - i >= 2:
                end -= 1
        pieces.append(text[i:end])
        i = end
    return pieces


def check_against_regex(texts):
    try:
        import regex
    except ImportError:
        print("regex module not installed: pre-tokenizer not cross-checked", file=sys.stderr)
        return
    pattern = regex.compile(GPT2_PATTERN)
    for text in texts:
        expected = pattern.findall(text)
        if pretokenize(text) != expected:
            sys.exit(f"pre-tokenizer disagrees with GPT-2's regex on {text!r}:\n"
                     f"  {pretokenize(text)}\n  {expected}")


def split_special(text):
    """Pieces of text and special tokens, leftmost first, the longer special token on a tie."""
    out = []
    i = 0
    while i <= len(text):
        best = None
        for token in SPECIAL_TOKENS:
            at = text.find(token, i)
            if at >= 0 and (best is None or at < best[0] or
                            (at == best[0] and len(token) > len(best[1]))):
                best = (at, token)
        if best is None:
            out.append((text[i:], False))
            break
        out.append((text[i:best[0]], False))
        out.append((best[1], True))
        i = best[0] + len(best[1])
    return [(piece, special) for piece, special in out if piece]


def word_symbols(word):
    return [BYTE_TO_CHAR[b] for b in word.encode("utf-8")]


def train(corpus, merges):
    """Most frequent adjacent pair first; ties go to the smaller pair, so runs are repeatable."""
    words = {}
    for word in pretokenize(corpus):
        key = tuple(word_symbols(word))
        words[key] = words.get(key, 0) + 1
    result = []
    for _ in range(merges):
        counts = {}
        for symbols, count in words.items():
            for pair in zip(symbols, symbols[1:]):
                counts[pair] = counts.get(pair, 0) + count
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        result.append(best)
        merged = {}
        for symbols, count in words.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    return result


def bpe(symbols, ranks):
    """GPT-2's encoder.py: merge every occurrence of the lowest-ranked pair, until none is left."""
    word = list(symbols)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        best = min(pairs, key=lambda pair: ranks.get(pair, float("inf")))
        if best not in ranks:
            break
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def encode(text, vocab, ranks):
    ids = []
    for piece, special in split_special(text):
        if special:
            ids.append(vocab[piece])
            continue
        for word in pretokenize(piece):
            ids.extend(vocab[symbol] for symbol in bpe(word_symbols(word), ranks))
    return ids


def decode(ids, vocab):
    token_of = {i: t for t, i in vocab.items()}
    char_to_byte = {c: b for b, c in BYTE_TO_CHAR.items()}
    out = bytearray()
    for i in ids:
        token = token_of[i]
        if token in SPECIAL_TOKENS:
            out += token.encode("utf-8")
        else:
            out += bytes(char_to_byte[c] for c in token)
    return out.decode("utf-8")


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUTPUT_DIRECTORY")
    directory = pathlib.Path(sys.argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    check_against_regex([CORPUS] + [text for _, text in CASES])

    merges = train(CORPUS, MERGES)
    vocab = {char: i for i, char in enumerate(BYTE_TO_CHAR.values())}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    ranks = {pair: rank for rank, pair in enumerate(merges)}

    # One entry per line, so that line numbers in error messages point somewhere useful.
    entries = [f"  {json.dumps(t, ensure_ascii=False)}: {i}" for t, i in vocab.items()]
    (directory / "vocab.json").write_text("{\n" + ",\n".join(entries) + "\n}\n", encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")

    lines = ["# name\tUTF-8 text in hex\ttoken ids (specials: " + " ".join(SPECIAL_TOKENS) + ")"]
    for name, text in CASES:
        ids = encode(text, vocab, ranks)
        if decode(ids, vocab) != text:
            sys.exit(f"reference round trip failed for {name}")
        lines.append(f"{name}\t{text.encode('utf-8').hex()}\t{' '.join(map(str, ids))}")
    (directory / "goldens.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(vocab)} tokens, {len(merges)} merges, {len(CASES)} goldens in {directory}")


if __name__ == "__main__":
    main()
