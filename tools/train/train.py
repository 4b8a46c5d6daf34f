#!/usr/bin/python3
"""Trains the tiny multimodal model of the flagship example (examples/multimodal) on the synthetic
shapes of shapes.py, with PyTorch on the CPU, and writes what loom loads:

    /usr/bin/python3 tools/train/train.py                 # ~25 min on one core
    /usr/bin/python3 tools/train/train.py --steps 200     # a quick, worse model

into examples/multimodal/model/ (or --out): vocab.json and merges.txt (a byte-level BPE trained
on the captions), text_encoder, image_encoder, video_encoder, backbone (the MoE), painter (the
diffusion decoder) and animator (the video decoder) .safetensors, held_back.tsv (the prompts
training never saw, for tests/test_trained_model.cpp) and training.json (what was run and how
well it did). The architecture is docs/model-architecture.md with the sizes in CONFIG, which the
flagship graph's stage parameters repeat.

Three phases: (1) two small autoencoders learn latents for the 64×64 target pictures and the
32×32 clip frames; loom keeps only their decoders (the decoders' `vae.*`). (2) Everything else
trains together on rectified flow: tokenizer ids → text encoder, picture → image encoder and
clip → video encoder give tokens; the MoE backbone maps them; the mean of its output conditions
both velocity networks (scenes.py says which examples teach what). (3) Export, then check that
the reference (tools/reference/model_reference.py, the numeric contract the golden tests hold
loom to) loads every file and computes what the trained modules compute, and score the held-back
prompts by sampling through the reference exactly as loom samples.
"""
import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reference"))

import make_tokenizer_goldens as bpe  # noqa: E402
import model as trainable  # noqa: E402
import model_reference as ref  # noqa: E402
import safetensors_file  # noqa: E402
import scenes  # noqa: E402

CONFIG = {
    "text_encoder": dict(vocab=1024, d_model=128, layers=2, heads=4, d_ff=256),
    "image_encoder": dict(image_size=64, patch=16, d_model=128, layers=2, heads=4, d_ff=256),
    "video_encoder": dict(frames=8, image_size=32, patch=16, tubelet=2, d_model=128, layers=2,
                          heads=4, d_ff=256),
    "backbone": dict(d_model=128, d_ff=256, experts=8, top_k=2, shared_experts=1),
    "painter": dict(latent_size=8, latent_channels=4, patch=2, image_size=64, vae_channels=16,
                    d_model=128, layers=4, heads=4, d_ff=256, cond_dim=128, steps=20,
                    guidance=3.0, seed=7),
    "animator": dict(frames=8, latent_size=4, latent_channels=8, patch=2, image_size=32,
                     vae_channels=16, d_model=128, layers=3, heads=4, d_ff=256, cond_dim=128,
                     steps=12, guidance=3.0, seed=7),
}
UNCONDITIONAL = 0.1  # share of examples trained with cond = zeros, for classifier-free guidance
# What a condition says, each attribute read back from it by a linear probe during training.
ATTRIBUTES = {"colour": scenes.COLOURS, "shape": scenes.SHAPES, "size": scenes.SIZES,
              "place": scenes.PLACES, "direction": scenes.DIRECTIONS}
PROBE_WEIGHT = 0.1
# A clip's shape fills a few of its 32×32 pixels and of its 4×4 latent cells; unweighted, the
# losses are mostly about background, and the first trained animators painted every colour a
# washed-out average. Pixels (in the clip autoencoder) and latent cells (in the animator's flow
# loss) that hold the shape weigh this much more.
CLIP_SHAPE_WEIGHT = 10.0


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- tokenizer -------------------------------------------------------------------------------

def train_tokenizer(out):
    """A GPT-2 byte-level BPE whose merges make every caption word one token."""
    words = {w for key in scenes.PICTURE_KEYS for w in scenes.caption(*key[:2], *key[2:]).split()}
    words |= {w for c, k, d in scenes.CLIP_KEYS for w in scenes.caption(c, k, direction=d).split()}
    corpus = " ".join(sorted(words))
    merges = bpe.train(corpus, 1000)
    vocab = {char: i for i, char in enumerate(bpe.BYTE_TO_CHAR.values())}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    for token in bpe.SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    entries = [f"  {json.dumps(t, ensure_ascii=False)}: {i}" for t, i in vocab.items()]
    (out / "vocab.json").write_text("{\n" + ",\n".join(entries) + "\n}\n", encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges),
                                    encoding="utf-8")
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    return lambda text: bpe.encode(text, vocab, ranks)


# --- phase 1: latents ------------------------------------------------------------------------

def shape_pixels(pixels):
    """1 where a target picture or frame [..., H, W, 3] shows the shape, 0 on the background."""
    return ((pixels - scenes.BACKGROUND).abs().sum(-1) > 0.1).float()


def train_autoencoder(name, pixels, cfg, steps, rng, shape_weight=0.0):
    """(decoder, latents scaled to unit variance) for `pixels` [N, H, W, 3]; the scale is folded
    into the decoder's first convolution so loom's decoder reads the scaled latents. Pixels of
    the shape weigh 1 + shape_weight in the reconstruction loss."""
    ups = cfg["upsamplings"]
    encoder = trainable.PixelEncoder(cfg["latent_channels"], cfg["vae_channels"], ups)
    decoder = trainable.PixelDecoder(cfg["latent_channels"], cfg["vae_channels"], ups)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimiser = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 2e-3, total_steps=steps)
    data = torch.from_numpy(pixels)
    weights = (1 + shape_weight * shape_pixels(data))[..., None]
    for step in range(steps):
        rows = torch.from_numpy(rng.integers(len(data), size=32))
        batch, weight = data[rows], weights[rows]
        z = encoder(batch)
        # Noise on the latents makes the decoder forgive the sampler's small misses.
        noisy = z + 0.1 * z.detach().std() * torch.randn_like(z)
        error = weight * (decoder(noisy, clamp=False) - batch).pow(2)
        loss = error.mean() / weight.mean() + 1e-3 * z.pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"{name} autoencoder step {step}/{steps}: reconstruction loss {loss.item():.5f}")
    with torch.no_grad():
        latents = torch.cat([encoder(data[i:i + 64]) for i in range(0, len(data), 64)])
        scale = latents.std()
        decoder.conv_in.weight.mul_(scale)
        error = F.mse_loss(decoder(latents / scale), data).item()
    log(f"{name} autoencoder: latent std {scale:.3f} folded into vae.conv_in; "
        f"reconstruction mse {error:.5f}")
    return decoder, latents / scale


# --- phase 2: the model ----------------------------------------------------------------------

def as_mp4(clips):
    """What a clip looks like after yuv420p video coding: full-resolution luma, chroma averaged
    over 2×2 pixels; then 8-bit rounding and a little noise."""
    r, g, b = clips.unbind(-1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    chroma = torch.stack([b - y, r - y], dim=-1)
    shape = chroma.shape
    flat = chroma.reshape(-1, shape[-3], shape[-2], 2).permute(0, 3, 1, 2)
    flat = F.interpolate(F.avg_pool2d(flat, 2), scale_factor=2, mode="nearest")
    cb, cr = flat.permute(0, 2, 3, 1).reshape(shape).unbind(-1)
    rgb = torch.stack([y + cr, y - (0.299 * cr + 0.114 * cb) / 0.587, y + cb], dim=-1)
    return as_png(rgb)


def as_png(pixels):
    noisy = pixels + 0.01 * torch.randn_like(pixels)
    return torch.round(noisy.clamp(0, 1) * 255) / 255


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.text_encoder = trainable.TextEncoder(**CONFIG["text_encoder"])
        self.image_encoder = trainable.ImageEncoder(**CONFIG["image_encoder"])
        self.video_encoder = trainable.VideoEncoder(**CONFIG["video_encoder"])
        self.backbone = trainable.MoE(**CONFIG["backbone"])
        self.painter = trainable.FlowDecoder(**CONFIG["painter"])
        self.animator = trainable.FlowDecoder(**CONFIG["animator"])
        # Not exported. Flow matching alone barely rewards telling "up" from "down": the decoder
        # only needs the sign of the motion where the noise hides it, so it never learns to read
        # it, so the encoders never learn to write it (up and down conditions ended 3 % apart,
        # up and left 60 %), and half the clips ran backwards. The probe makes every named
        # attribute linearly readable from the condition.
        self.probe = torch.nn.Linear(CONFIG["backbone"]["d_model"],
                                     sum(map(len, ATTRIBUTES.values())))

    def condition(self, tokens, valid, pictures, clips, composed):
        """The mean backbone output over each packet's tokens: its text, and for `composed`
        packets (a bool [B]) its picture's and clip's tokens too, as the flagship concatenates
        them. pictures/clips hold one per composed packet."""
        text = self.text_encoder(tokens, valid)
        rows, owner = [text[valid]], [valid.nonzero()[:, 0]]
        if composed.any():
            which = composed.nonzero()[:, 0]
            for tokens_of in (self.image_encoder(pictures), self.video_encoder(clips)):
                rows.append(tokens_of.reshape(-1, tokens_of.shape[-1]))
                owner.append(which.repeat_interleave(tokens_of.shape[1]))
        rows, owner = torch.cat(rows), torch.cat(owner)
        out, balance = self.backbone(rows)
        total = torch.zeros(len(tokens), out.shape[1]).index_add(0, owner, out)
        count = torch.zeros(len(tokens)).index_add(0, owner, torch.ones(len(owner)))
        return total / count[:, None], balance


def probe_loss(probe, cond, named):
    """Cross-entropy of each attribute the examples name (`named`: one dict per example)."""
    logits = probe(cond).split([len(v) for v in ATTRIBUTES.values()], dim=1)
    loss = 0
    for (attribute, values), scores in zip(ATTRIBUTES.items(), logits):
        target = torch.tensor([values.index(n[attribute]) if attribute in n else -100
                               for n in named])
        if (target >= 0).any():
            loss = loss + F.cross_entropy(scores, target, ignore_index=-100)
    return loss


def flow_loss(decoder, latents, cond_mean, cell_weights=None):
    """Rectified flow: z_t = (1 − t)·x0 + t·noise, the network predicts noise − x0; each latent
    cell's error weighs `cell_weights` [B, frames, h, w, 1] (default: all alike)."""
    batch = len(latents)
    t = torch.sigmoid(torch.randn(batch))  # logit-normal: most steps in the middle
    noise = torch.randn_like(latents)
    z = (1 - t[:, None, None, None, None]) * latents + t[:, None, None, None, None] * noise
    keep = (torch.rand(batch) >= UNCONDITIONAL).float()[:, None]
    v = decoder.velocity(z, decoder.conditioning(cond_mean * keep, t))
    if cell_weights is None:
        return F.mse_loss(v, noise - latents)
    return (cell_weights * (v - (noise - latents)).pow(2)).mean() / cell_weights.mean()


def train_model(model, tokenize, picture_latents, clip_latents, clip_cells, pool, steps, rng,
                batch=64):
    pictures, picture_labels, clips, clip_labels = pool
    pictures, clips = torch.from_numpy(pictures), torch.from_numpy(clips)
    excluded = {text for text, _ in scenes.held_back()}
    token_cache = {}
    vae = {id(p) for d in (model.painter, model.animator) for p in d.vae.parameters()}
    params = [p for p in model.parameters() if id(p) not in vae]
    optimiser = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, betas=(0.9, 0.99))
    start, smoothed = time.time(), None
    for step in range(steps):
        # Warm up for 200 steps, then a cosine down to 5 %.
        lr = 1e-3 * min(1.0, (step + 1) / 200) * (0.05 + 0.475 * (1 + math.cos(math.pi * step / steps)))
        for group in optimiser.param_groups:
            group["lr"] = lr
        texts, picture_keys, clip_keys, composed, picture_rows, clip_rows = [], [], [], [], [], []
        named = []
        for _ in range(batch):
            if rng.random() < 0.5:
                text, pk, ck, says = scenes.text_only_example(rng, excluded)
                composed.append(False)
            else:
                text, pi, ci, pk, ck, says = scenes.composed_example(rng, picture_labels,
                                                                      clip_labels)
                composed.append(True)
                picture_rows.append(pi)
                clip_rows.append(ci)
            named.append(says)
            texts.append(text)
            picture_keys.append(pk)
            clip_keys.append(ck)
        ids = [token_cache.setdefault(t, tokenize(t)) for t in texts]
        longest = max(map(len, ids))
        tokens = torch.zeros(batch, longest, dtype=torch.long)
        valid = torch.zeros(batch, longest, dtype=torch.bool)
        for b, row in enumerate(ids):
            tokens[b, :len(row)] = torch.tensor(row)
            valid[b, :len(row)] = True
        cond, balance = model.condition(tokens, valid, as_png(pictures[picture_rows]),
                                        as_mp4(clips[clip_rows]), torch.tensor(composed))
        image_loss = flow_loss(model.painter, picture_latents[picture_keys], cond)
        video_loss = flow_loss(model.animator, clip_latents[clip_keys], cond, clip_cells[clip_keys])
        probe = probe_loss(model.probe, cond, named)
        # Clips are the harder half (eight frames that must agree): they weigh twice.
        loss = image_loss + 2 * video_loss + 0.01 * balance + PROBE_WEIGHT * probe
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        values = np.array([image_loss.item(), video_loss.item(), balance.item(), probe.item()])
        smoothed = values if smoothed is None else 0.98 * smoothed + 0.02 * values
        if (step + 1) % 100 == 0 or step + 1 == steps:
            rate = (step + 1) / (time.time() - start)
            log(f"step {step + 1}/{steps}: image flow loss {smoothed[0]:.4f}, video "
                f"{smoothed[1]:.4f}, expert balance {smoothed[2]:.3f} (1 = even), probe "
                f"{smoothed[3]:.3f}; lr {lr:.2e}; "
                f"{rate:.1f} steps/s, {(steps - step - 1) / rate / 60:.1f} min left")
    return smoothed


# --- phase 3: export and checks ----------------------------------------------------------------

REFERENCE = {"text_encoder": ref.TextEncoder, "image_encoder": ref.ImageEncoder,
             "video_encoder": ref.VideoEncoder, "backbone": ref.MoE,
             "painter": ref.DiffusionDecoder, "animator": ref.VideoDecoder}


def export(model, out):
    """Writes each stage's weights and returns the reference modules loaded from the files."""
    loaded = {}
    for name, cls in REFERENCE.items():
        tensors = {k: v.detach().clone() for k, v in getattr(model, name).state_dict().items()}
        path = out / f"{name}.safetensors"
        safetensors_file.write(path, tensors)
        reference = cls(**CONFIG[name])
        reference.load_state_dict(safetensors_file.read(path), strict=True)
        loaded[name] = reference.eval()
    return loaded


def check_against_reference(model, loaded, tokenize, pool):
    """The trained modules and the reference on the exported files compute the same thing."""
    def agree(what, found, expected):
        error = ref.relative_rms(found, expected)
        if error > 1e-5:
            raise SystemExit(f"export check: {what} differs from the reference by {error:.2e}")
        return error

    with torch.no_grad():
        ids = torch.tensor(tokenize("a small red circle on the left moving up"))
        text = model.text_encoder(ids[None], torch.ones(1, len(ids), dtype=torch.bool))[0]
        errors = [agree("text_encoder", text, loaded["text_encoder"](ids))]
        picture, clip = torch.from_numpy(pool[0][0]), torch.from_numpy(pool[2][0])
        errors.append(agree("image_encoder", model.image_encoder(picture[None])[0],
                            loaded["image_encoder"](picture)))
        errors.append(agree("video_encoder", model.video_encoder(clip[None])[0],
                            loaded["video_encoder"](clip)))
        errors.append(agree("backbone", model.backbone(text)[0], loaded["backbone"](text)))
        for name in ("painter", "animator"):
            decoder, reference = getattr(model, name), loaded[name]
            z = torch.randn(1, *decoder.latent_shape)
            t = torch.tensor([0.3])
            c = decoder.conditioning(text.mean(0, keepdim=True), t)
            errors.append(agree(f"{name} conditioning", c[0], reference.conditioning(text.mean(0), 0.3)))
            errors.append(agree(f"{name} velocity", decoder.velocity(z, c)[0], reference.velocity(z[0], c[0])))
            errors.append(agree(f"{name} pixels", decoder.vae(z[0]), reference.vae(z[0])))
    log(f"export check: the reference computes the same on the files (largest relative error "
        f"{max(errors):.1e})")


def nearest(samples, targets):
    """Index of the target each sample is closest to (mean squared pixel difference)."""
    flat_s, flat_t = samples.reshape(len(samples), -1), targets.reshape(len(targets), -1)
    return torch.cdist(flat_s, flat_t).argmin(1)


def score_held_back(loaded, tokenize, picture_targets, clip_targets):
    """Samples each held-back prompt as loom does (reference modules, packet sequence = its index)
    and counts the prompts whose picture (or clip) is nearest a target of the named colour and
    shape (and direction)."""
    held = scenes.held_back()
    right_pictures = right_clips = clips = 0
    with torch.no_grad():
        for sequence, (text, labels) in enumerate(held):
            cond = loaded["backbone"](loaded["text_encoder"](torch.tensor(tokenize(text))))
            picture = loaded["painter"](cond, sequence)
            c, k, _, _ = scenes.PICTURE_KEYS[nearest(picture[None], picture_targets)[0]]
            right_pictures += (c, k) == (labels["colour"], labels["shape"])
            if "direction" in labels:
                frames = loaded["animator"](cond, sequence)
                c, k, d = scenes.CLIP_KEYS[nearest(frames[None], clip_targets)[0]]
                right_clips += (c, k, d) == (labels["colour"], labels["shape"], labels["direction"])
                clips += 1
    log(f"held-back prompts: {right_pictures}/{len(held)} pictures of the named colour and shape, "
        f"{right_clips}/{clips} clips of the named colour, shape and motion")
    return right_pictures / len(held), right_clips / clips


def write_held_back(out):
    lines = ["prompt\tcolour\tshape\tsize\tplace\tdirection"]
    for text, labels in scenes.held_back():
        lines.append("\t".join([text] + [labels.get(k, "-") for k in
                                         ("colour", "shape", "size", "place", "direction")]))
    (out / "held_back.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE.parents[1] / "examples/multimodal/model"),
                        help="folder for the weights, vocabulary and held-back prompts")
    parser.add_argument("--steps", type=int, default=3000,
                        help="steps of phase 2, the main training, 64 examples each")
    parser.add_argument("--autoencoder-steps", type=int, default=800,
                        help="steps of the picture autoencoder (the clip frames' get 3 times as "
                             "many: they are 4 times smaller)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="PyTorch threads; Debian's PyTorch 1.13 runs these small products "
                             "fastest on one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Tiny values (Adam's second moments, faint gradients) turn into denormals as training goes
    # on, and each operation on one costs a hundred times more on x86: flush them to zero.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.time()

    tokenize = train_tokenizer(out)
    picture_targets = torch.from_numpy(np.stack([scenes.target_picture(*k) for k in scenes.PICTURE_KEYS]))
    clip_targets = torch.from_numpy(np.stack([scenes.target_clip(*k) for k in scenes.CLIP_KEYS]))
    pool = scenes.input_pool(rng, pictures=2000, clips=1000)
    log(f"data: {len(picture_targets)} target pictures, {len(clip_targets)} target clips, "
        f"{len(pool[0])} input pictures and {len(pool[2])} input clips")

    model = Model()
    for name, targets in (("painter", picture_targets), ("animator", clip_targets)):
        cfg = dict(CONFIG[name], upsamplings=getattr(model, name).upsamplings)
        frames = targets.reshape(-1, *targets.shape[-3:]).numpy()
        steps = args.autoencoder_steps * (1 if name == "painter" else 3)
        shape_weight = 0.0 if name == "painter" else CLIP_SHAPE_WEIGHT
        decoder, latents = train_autoencoder(name, frames, cfg, steps, rng, shape_weight)
        getattr(model, name).vae.load_state_dict(decoder.state_dict())
        shape = (len(targets), -1) + getattr(model, name).latent_shape[1:]
        if name == "painter":
            picture_latents = latents.reshape(shape).detach()
        else:
            clip_latents = latents.reshape(shape).detach()

    # The share of each latent cell's pixels that show the shape, as the flow loss's weights.
    cell = CONFIG["animator"]["image_size"] // CONFIG["animator"]["latent_size"]
    shape_share = F.avg_pool2d(shape_pixels(clip_targets).flatten(0, 1)[:, None], cell)
    clip_cells = 1 + CLIP_SHAPE_WEIGHT * shape_share.reshape(*clip_latents.shape[:-1], 1)
    losses = train_model(model, tokenize, picture_latents, clip_latents, clip_cells, pool,
                         args.steps, rng)
    model.eval()
    loaded = export(model, out)
    check_against_reference(model, loaded, tokenize, pool)
    picture_score, clip_score = score_held_back(loaded, tokenize, picture_targets, clip_targets)
    write_held_back(out)
    summary = {"config": CONFIG, "seed": args.seed, "threads": args.threads,
               "training_steps": args.steps, "autoencoder_steps": args.autoencoder_steps,
               "minutes": round((time.time() - began) / 60, 1),
               "final_losses": {"image_flow": float(losses[0]), "video_flow": float(losses[1]),
                                "expert_balance": float(losses[2]), "probe": float(losses[3])},
               "held_back": {"pictures_right": picture_score, "clips_right": clip_score}}
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"done in {summary['minutes']} min: weights, vocabulary, held_back.tsv and training.json "
        f"in {out}")


if __name__ == "__main__":
    main()
