#!/usr/bin/python3
"""Synthetic captioned shapes and clips, for training the tiny multimodal model (issue 7).

A picture is one coloured shape (circle, square, triangle, star) of a size (small, large) at a
place (left, right, top, bottom, centre) on a plain or textured background, with its caption:
"a small red circle on the left". A clip is the same shape moving one way (left, right, up, down)
over `frames` frames: "a blue square moving to the right". Everything comes from a seed, so a
dataset is reproducible; pixels are float32 in [0, 1], channels last, as loom's image and video
sources deliver them.

    /usr/bin/python3 tools/train/shapes.py --out /tmp/shapes --images 8 --clips 2 --seed 1

writes PNGs, clip frame PNGs and captions.jsonl (one {"file": ..., "caption": ...} per sample).
In training code: `picture(rng, size=32)` and `clip(rng, size=32, frames=8)` return
(pixels, caption, labels) directly.
"""
import argparse
import json
import os
import zlib
import struct

import numpy as np

COLOURS = {
    "red": (0.86, 0.12, 0.12),
    "green": (0.15, 0.70, 0.20),
    "blue": (0.15, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.10),
    "purple": (0.60, 0.20, 0.75),
    "orange": (0.98, 0.55, 0.10),
}
SHAPES = ("circle", "square", "triangle", "star")
SIZES = {"small": 0.18, "large": 0.32}  # radius as a fraction of the picture side
PLACES = {"on the left": (0.28, 0.5), "on the right": (0.72, 0.5), "at the top": (0.5, 0.28),
          "at the bottom": (0.5, 0.72), "in the centre": (0.5, 0.5)}
DIRECTIONS = {"to the right": (1, 0), "to the left": (-1, 0), "up": (0, -1), "down": (0, 1)}
SUPERSAMPLE = 4  # per side: edges are anti-aliased by averaging 16 samples per pixel


def shape_mask(kind, size, centre, radius):
    """Coverage in [0, 1] of a `kind` shape on a size×size grid (x right, y down)."""
    n = size * SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(coords - centre[0], coords - centre[1])
    if kind == "circle":
        inside = x * x + y * y <= radius * radius
    elif kind == "square":
        half = radius * 0.85
        inside = (np.abs(x) <= half) & (np.abs(y) <= half)
    elif kind == "triangle":
        # Pointing up: below the two upper edges and above the base.
        top, base = -radius, radius * 0.75
        inside = (y <= base) & (y >= top + 2 * np.abs(x) * (base - top) / (2 * radius))
    elif kind == "star":
        angle = np.arctan2(y, x) + np.pi / 2
        spikes = 0.5 + 0.5 * np.cos(5 * angle)  # five points
        inside = np.sqrt(x * x + y * y) <= radius * (0.45 + 0.55 * spikes ** 2)
    else:
        raise ValueError(f"unknown shape {kind!r}; one of {SHAPES}")
    return inside.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))


def background(rng, size):
    """A light plain colour, or the same with a faint texture of stripes or checks."""
    base = rng.uniform(0.80, 0.97, size=3)
    picture = np.broadcast_to(base, (size, size, 3)).copy()
    texture = rng.choice(["plain", "stripes", "checks"])
    if texture != "plain":
        y, x = np.mgrid[0:size, 0:size]
        period = int(rng.integers(4, 9))
        pattern = (x // period) % 2 if texture == "stripes" else ((x // period + y // period) % 2)
        picture -= 0.06 * pattern[..., None]
    return picture


def paint(picture, kind, colour, centre, radius):
    alpha = shape_mask(kind, picture.shape[0], centre, radius)[..., None]
    return picture * (1 - alpha) + np.asarray(COLOURS[colour]) * alpha


def picture(rng, size=32):
    """(pixels [size, size, 3] f32, caption, labels) of one random shape."""
    kind = str(rng.choice(SHAPES))
    colour = str(rng.choice(list(COLOURS)))
    size_word = str(rng.choice(list(SIZES)))
    place = str(rng.choice(list(PLACES)))
    pixels = paint(background(rng, size), kind, colour, PLACES[place], SIZES[size_word])
    caption = f"a {size_word} {colour} {kind} {place}"
    labels = {"shape": kind, "colour": colour, "size": size_word, "place": place}
    return pixels.astype(np.float32), caption, labels


def clip_centres(direction, frames):
    """Where a clip's shape is in each of its frames, as (x, y) fractions of the side: it crosses
    the middle, 0.6 of the side from first frame to last."""
    step = np.array(DIRECTIONS[direction], dtype=float)
    start = np.array([0.5, 0.5]) - 0.3 * step
    return [start + 0.6 * step * f / max(frames - 1, 1) for f in range(frames)]


def clip(rng, size=32, frames=8):
    """(pixels [frames, size, size, 3] f32, caption, labels): a shape moving one way."""
    kind = str(rng.choice(SHAPES))
    colour = str(rng.choice(list(COLOURS)))
    direction = str(rng.choice(list(DIRECTIONS)))
    back = background(rng, size)
    out = np.empty((frames, size, size, 3), np.float32)
    for f, centre in enumerate(clip_centres(direction, frames)):
        out[f] = paint(back, kind, colour, centre, SIZES["small"])
    caption = f"a {colour} {kind} moving {direction}"
    return out, caption, {"shape": kind, "colour": colour, "direction": direction}


def write_png(path, pixels):
    """An 8-bit RGB PNG from f32 [H, W, 3] in [0, 1], with zlib only (no imaging library)."""
    data = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    height, width, _ = data.shape
    raw = b"".join(b"\x00" + data[row].tobytes() for row in range(height))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def self_check(rng, samples=200, size=32):
    """Every caption says what its picture shows: the shape's pixels (those far from the
    background) have the caption's colour, and their centre lies where the caption places it
    (or, for a clip, moves the way it says)."""
    def shape_pixels(pixels, back):
        return np.abs(pixels - back).sum(axis=-1) > 0.3

    for _ in range(samples):
        # Replay the draws `picture` makes to get its background alone.
        state = rng.bit_generator.state
        pixels, caption, labels = picture(rng, size)
        after = rng.bit_generator.state
        rng.bit_generator.state = state
        for choices in (SHAPES, list(COLOURS), list(SIZES), list(PLACES)):
            rng.choice(choices)
        back = background(rng, size)
        rng.bit_generator.state = after
        mask = shape_pixels(pixels, back)
        assert mask.sum() > 4, caption
        mean = pixels[mask].mean(axis=0)
        nearest = min(COLOURS, key=lambda c: np.abs(np.asarray(COLOURS[c]) - mean).sum())
        assert nearest == labels["colour"], (caption, nearest)
        ys, xs = np.nonzero(mask)
        centre = np.array([xs.mean(), ys.mean()]) / size
        assert np.abs(centre - PLACES[labels["place"]]).max() < 0.12, (caption, centre)
    for _ in range(samples // 10):
        pixels, caption, labels = clip(rng, size)
        centres = []
        for frame in (pixels[0], pixels[-1]):
            mask = np.abs(frame - np.median(frame.reshape(-1, 3), axis=0)).sum(axis=-1) > 0.3
            ys, xs = np.nonzero(mask)
            centres.append(np.array([xs.mean(), ys.mean()]))
        moved = np.sign(np.round((centres[1] - centres[0]) / size, 1))
        assert tuple(moved) == DIRECTIONS[labels["direction"]], (caption, moved)
    print(f"self-check: {samples} pictures and {samples // 10} clips match their captions")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the PNGs and captions.jsonl")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--size", type=int, default=32, help="picture side in pixels")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true",
                        help="first check that captions match pictures (see self_check)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.check:
        self_check(np.random.default_rng(args.seed + 1), size=args.size)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "captions.jsonl"), "w") as captions:
        for i in range(args.images):
            pixels, caption, labels = picture(rng, args.size)
            name = f"image_{i:05d}.png"
            write_png(os.path.join(args.out, name), pixels)
            captions.write(json.dumps({"file": name, "caption": caption, **labels}) + "\n")
        for i in range(args.clips):
            pixels, caption, labels = clip(rng, args.size, args.frames)
            names = []
            for f in range(args.frames):
                names.append(f"clip_{i:05d}_{f:02d}.png")
                write_png(os.path.join(args.out, names[-1]), pixels[f])
            captions.write(json.dumps({"files": names, "caption": caption, **labels}) + "\n")
    print(f"wrote {args.images} pictures and {args.clips} clips of {args.frames} frames to {args.out}")


if __name__ == "__main__":
    main()
