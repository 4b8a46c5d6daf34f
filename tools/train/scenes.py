"""What the tiny model is taught: prompts, the pictures and clips that answer them, and the prompts
held back from training so a test can check the model on prompts it never saw.

Two kinds of training example, half each:

- text only: a caption names the colour and shape, and may name the size, the place and a
  motion ("a small red circle on the left moving up"). The target picture has what the caption
  says; what it leaves out is drawn at random (so the model learns a spread, not a default).
  The target clip is the same shape and colour moving the named way (or a random one).
- text, picture and clip (the flagship graph): the caption is only "a COLOUR SHAPE"; the picture
  (any shape, any colour, a textured background) says where and how big; the clip (any shape,
  colour and background) says which way to move. The targets take what from each.

Targets are drawn on a plain near-white background, so the decoders learn one clean picture per
description: 240 pictures (6 colours × 4 shapes × 2 sizes × 5 places) and 96 clips (6 × 4 × 4
directions).
"""
import itertools

import numpy as np

import shapes

BACKGROUND = 0.96
COLOURS = list(shapes.COLOURS)
SHAPES = list(shapes.SHAPES)
SIZES = list(shapes.SIZES)
PLACES = list(shapes.PLACES)
DIRECTIONS = list(shapes.DIRECTIONS)

PICTURE_KEYS = list(itertools.product(COLOURS, SHAPES, SIZES, PLACES))
CLIP_KEYS = list(itertools.product(COLOURS, SHAPES, DIRECTIONS))


def target_picture(colour, kind, size_word, place, side=64):
    plain = np.full((side, side, 3), BACKGROUND)
    return shapes.paint(plain, kind, colour, shapes.PLACES[place], shapes.SIZES[size_word]).astype(np.float32)


def target_clip(colour, kind, direction, side=32, frames=8):
    """The clip shapes.clip draws for this description, on the plain background."""
    plain = np.full((side, side, 3), BACKGROUND)
    return np.stack([shapes.paint(plain, kind, colour, centre, shapes.SIZES["small"])
                     for centre in shapes.clip_centres(direction, frames)]).astype(np.float32)


def caption(colour, kind, size_word=None, place=None, direction=None):
    words = ([size_word] if size_word else []) + [colour, kind]
    words += [place] if place else []
    words += ["moving " + direction] if direction else []
    return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)


def held_back(seed=2026):
    """The prompts training never shows: a fifth of the full picture captions ("a small red circle
    on the left") and a quarter of the clip captions ("a red circle moving up"), as
    (caption, labels) with the labels the caption names."""
    rng = np.random.default_rng(seed)
    pictures = [PICTURE_KEYS[i] for i in sorted(rng.permutation(len(PICTURE_KEYS))[:48])]
    clips = [CLIP_KEYS[i] for i in sorted(rng.permutation(len(CLIP_KEYS))[:24])]
    out = [(caption(c, k, size_word=s, place=p), dict(colour=c, shape=k, size=s, place=p))
           for c, k, s, p in pictures]
    out += [(caption(c, k, direction=d), dict(colour=c, shape=k, direction=d)) for c, k, d in clips]
    return out


def text_only_example(rng, excluded):
    """(caption, picture key index, clip key index, named) for a caption not in `excluded`;
    `named` maps each attribute the caption names to its value."""
    while True:
        colour, kind = str(rng.choice(COLOURS)), str(rng.choice(SHAPES))
        size_word = str(rng.choice(SIZES)) if rng.random() < 0.5 else None
        place = str(rng.choice(PLACES)) if rng.random() < 0.5 else None
        direction = str(rng.choice(DIRECTIONS)) if rng.random() < 0.5 else None
        text = caption(colour, kind, size_word, place, direction)
        if text in excluded:
            continue
        picture = PICTURE_KEYS.index((colour, kind, size_word or str(rng.choice(SIZES)),
                                      place or str(rng.choice(PLACES))))
        clip = CLIP_KEYS.index((colour, kind, direction or str(rng.choice(DIRECTIONS))))
        named = dict(colour=colour, shape=kind, size=size_word, place=place, direction=direction)
        return text, picture, clip, {a: v for a, v in named.items() if v}


def input_pool(rng, pictures, clips):
    """Pictures [n, 64, 64, 3] with their (size, place) and clips [n, 8, 32, 32, 3] with their
    direction, as shapes.py draws them (any shape and colour, textured backgrounds)."""
    picture_pixels, picture_labels, clip_pixels, clip_labels = [], [], [], []
    for _ in range(pictures):
        pixels, _, labels = shapes.picture(rng, 64)
        picture_pixels.append(pixels)
        picture_labels.append((labels["size"], labels["place"]))
    for _ in range(clips):
        pixels, _, labels = shapes.clip(rng, 32, 8)
        clip_pixels.append(pixels)
        clip_labels.append(labels["direction"])
    return np.stack(picture_pixels), picture_labels, np.stack(clip_pixels), clip_labels


def composed_example(rng, picture_labels, clip_labels):
    """(caption, picture pool index, clip pool index, picture key index, clip key index, named):
    the caption names the colour and shape, the picture the size and place, the clip the
    direction."""
    colour, kind = str(rng.choice(COLOURS)), str(rng.choice(SHAPES))
    picture = int(rng.integers(len(picture_labels)))
    clip = int(rng.integers(len(clip_labels)))
    size_word, place = picture_labels[picture]
    direction = clip_labels[clip]
    named = dict(colour=colour, shape=kind, size=size_word, place=place, direction=direction)
    return (caption(colour, kind), picture, clip,
            PICTURE_KEYS.index((colour, kind, size_word, place)),
            CLIP_KEYS.index((colour, kind, direction)), named)
