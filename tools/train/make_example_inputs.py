#!/usr/bin/python3
"""Draws the flagship example's input pictures and clip (examples/multimodal/): three pictures
that say where and how big (the shape and colour in them do not matter to the model) and one MP4
of three 8-frame clips that say which way to move, one per prompt of the graph.

    /usr/bin/python3 tools/train/make_example_inputs.py [examples/multimodal]

Needs the ffmpeg program (Debian's `ffmpeg` package) to encode the MP4. The drawings are
shapes.py's, from a seed training never used, so the model has not seen these exact inputs.
"""
import argparse
import pathlib
import subprocess
import tempfile

import numpy as np

import shapes

# (shape, colour, size, place) of each picture; (shape, colour, direction) of each clip.
PICTURES = [("triangle", "green", "large", "at the top"),
            ("circle", "purple", "small", "on the left"),
            ("square", "orange", "large", "at the bottom")]
CLIPS = [("star", "yellow", "to the right"), ("square", "red", "up"), ("circle", "blue", "to the left")]
FRAMES = 8


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="examples/multimodal",
                        help="where picture_0..2.png and clip.mp4 go")
    folder = pathlib.Path(parser.parse_args().folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4242)
    for i, (kind, colour, size_word, place) in enumerate(PICTURES):
        pixels = shapes.paint(shapes.background(rng, 64), kind, colour, shapes.PLACES[place],
                              shapes.SIZES[size_word])
        shapes.write_png(folder / f"picture_{i}.png", pixels)
    with tempfile.TemporaryDirectory() as frames_dir:
        frame = 0
        for kind, colour, direction in CLIPS:
            back = shapes.background(rng, 32)
            for centre in shapes.clip_centres(direction, FRAMES):
                pixels = shapes.paint(back, kind, colour, centre, shapes.SIZES["small"])
                shapes.write_png(pathlib.Path(frames_dir) / f"frame_{frame:03d}.png", pixels)
                frame += 1
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-framerate", "8", "-i",
                        f"{frames_dir}/frame_%03d.png", "-c:v", "libx264", "-crf", "12",
                        "-pix_fmt", "yuv420p", str(folder / "clip.mp4")], check=True)
    print(f"wrote {len(PICTURES)} pictures and a clip of {len(CLIPS)}×{FRAMES} frames to {folder}")


if __name__ == "__main__":
    main()
