#!/usr/bin/python3
"""The PyTorch CPU peer of loom's diffusion-step benchmark: one guided velocity evaluation of the
decoder's DiT (a conditional and an unconditional forward combined by classifier-free guidance),
with the reference modules of tools/reference/model_reference.py, f32, under torch.no_grad().
The defaults are the flagship example's decoder.

    /usr/bin/python3 bench/torch/diffusion_step.py --latent-size 8 --latent-channels 4 \
        --patch 1 --d-model 256 --layers 4 --heads 4 --d-ff 512 --cond-dim 256 --cond-rows 80 \
        --threads 2 --repeat 10

Prints one line of JSON: {"peer": "pytorch", "version", "ms" (median of `repeat` steps after a
warm-up), and the sizes}.
"""
import argparse
import json
import pathlib
import statistics
import sys
import time

import torch

import cpu_threads

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools" / "reference"))
import model_reference as ref  # noqa: E402

# Any guidance but 1 runs both branches; its value does not change the cost.
GUIDANCE = 4.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latent-size", type=int, default=8)
    parser.add_argument("--latent-channels", type=int, default=4)
    parser.add_argument("--patch", type=int, default=1)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-ff", type=int, default=512)
    parser.add_argument("--cond-dim", type=int, default=256)
    parser.add_argument("--cond-rows", type=int, default=80, help="Tc, rows of the conditioning")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cpu_threads.use(args.threads)
    decoder = ref.DiffusionDecoder(
        latent_size=args.latent_size, latent_channels=args.latent_channels, patch=args.patch,
        image_size=args.latent_size, vae_channels=8, d_model=args.d_model, layers=args.layers,
        heads=args.heads, d_ff=args.d_ff, cond_dim=args.cond_dim, steps=1,
        guidance=GUIDANCE, seed=args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    ref.init_random(decoder, generator)
    cond = torch.randn(args.cond_rows, args.cond_dim, generator=generator)
    z = decoder.noise()
    times = []
    with torch.no_grad():
        decoder.guided_velocity(z, 1.0, cond)
        for i in range(args.repeat):
            start = time.perf_counter()
            decoder.guided_velocity(z, 1 - i / args.repeat, cond)
            times.append(time.perf_counter() - start)
    print(json.dumps({"peer": "pytorch", "version": torch.__version__,
                      "ms": round(statistics.median(times) * 1e3, 3),
                      "tokens": (args.latent_size // args.patch) ** 2,
                      "latent_size": args.latent_size, "latent_channels": args.latent_channels,
                      "patch": args.patch, "d_model": args.d_model, "layers": args.layers,
                      "heads": args.heads, "d_ff": args.d_ff, "cond_dim": args.cond_dim,
                      "cond_rows": args.cond_rows, "threads": args.threads,
                      "repeat": args.repeat}))


if __name__ == "__main__":
    main()
