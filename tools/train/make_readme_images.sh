#!/usr/bin/env bash
# Runs the flagship and the text-to-media example with the trained model and composes what they
# draw into the pictures README.md shows (docs/images/), pixels doubled so they can be seen:
#
#   tools/train/make_readme_images.sh            # after a build (build/cli/loom)
#
# flagship_N.png: request N's input picture, then the painted picture; flagship_clip_N.png: its
# input clip's 8 frames above the animated 8 frames; text_to_media.png: one row per prompt of
# text_to_media.toml, the painted picture then the animated frames. Needs the ffmpeg program.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
loom=${LOOM:-$root/build/cli/loom}
images=$root/docs/images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$images"

(cd "$work" && "$loom" run "$root/examples/multimodal/graph.toml" >/dev/null &&
  "$loom" run "$root/examples/multimodal/text_to_media.toml" >/dev/null)

ff() { ffmpeg -v error -y "$@"; }
# Eight frames side by side, pixels doubled: strip INPUT_PATTERN OUTPUT (-start_number picks the clip).
strip() { ff -start_number "$1" -i "$2" -vf "scale=64:64:flags=neighbor,tile=8x1" -frames:v 1 "$3"; }

ff -i "$root/examples/multimodal/clip.mp4" "$work/input_%03d.png"
for n in 0 1 2; do
  ff -i "$root/examples/multimodal/picture_$n.png" -i "$work/out/multimodal/image_00$n.png" \
    -filter_complex "[0][1]hstack=2,scale=256:128:flags=neighbor" "$images/flagship_$n.png"
  strip $((n * 8 + 1)) "$work/input_%03d.png" "$work/in_strip.png"
  strip 0 "$work/out/multimodal/frame_00${n}_%02d.png" "$work/out_strip.png"
  ff -i "$work/in_strip.png" -i "$work/out_strip.png" -filter_complex "[0][1]vstack=2" \
    "$images/flagship_clip_$n.png"
done

rows=()
for image in "$work"/out/text_to_media/image_*.png; do
  n=$(basename "$image" .png); n=${n#image_}
  strip 0 "$work/out/text_to_media/frame_${n}_%02d.png" "$work/t2m_strip_$n.png"
  ff -i "$image" -i "$work/t2m_strip_$n.png" \
    -filter_complex "[0]scale=128:128:flags=neighbor[p];[1]scale=1024:128:flags=neighbor[c];[p][c]hstack=2" \
    "$work/t2m_row_$n.png"
  rows+=(-i "$work/t2m_row_$n.png")
done
ff "${rows[@]}" -filter_complex "vstack=$(( ${#rows[@]} / 2 ))" "$images/text_to_media.png"
echo "wrote $images/flagship_{0,1,2}.png, flagship_clip_{0,1,2}.png and text_to_media.png"
