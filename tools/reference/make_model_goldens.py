#!/usr/bin/python3
"""Writes the golden files of loom's model stages: for each stage and dtype (f32, bf16), a tiny
model with seeded random weights, an input, and the output of the PyTorch reference
(model_reference.py, which follows docs/model-architecture.md). tests/test_encoders.cpp,
test_moe.cpp and test_diffusion.cpp (through tests/model_golden.hpp) run the C++ stage on the
same weights and input and compare with the relative-RMS tolerance in the .json beside each
file. Needs PyTorch (Debian's python3-torch); CI only reads the files.

    /usr/bin/python3 tools/reference/make_model_goldens.py [tests/model/goldens]

Before writing anything it checks the reference against independent formulations where the
contract allows one (RoPE as complex rotation, a transformer block as naive f64 loops, the MoE
as a dense masked sum over all experts, convolution as an explicit im2col product, the sampler
as a hand-written Euler loop, splitmix64 against its published outputs, ...). For every golden
it prints how far from it a correct implementation may land, measured two ways: the same model
with f64 activations ("f64 drift": another summation order), and with every product's input
perturbed by a relative 1e-6 ("perturbed": float exp, FMA, blocked sums), which in bf16 moves
an activation across a rounding step now and then. For bf16 it also prints how far a model lands
that forgets to round the activations ("unrounded").

Tolerances (relative RMS), as planned: f32 1e-4, decoders 1e-3 (three guided sampler steps
compound the error); bf16 1e-2, decoders 3e-2. Measured: f32 drift ~1e-7 and perturbed ~1e-6,
so f32 goldens catch nearly any arithmetic mistake. In bf16 a single rounding flip moves an
output by up to ~1e-3, the same size as a missing activation rounding (5e-4 to 5e-3), so no bf16
tolerance separates the two without failing correct implementations now and then; the bf16
goldens check the bf16 weights and the arithmetic around them, and are kept at 10× the flip.
The run asserts each tolerance is at least 10× the f64 drift and 5× the perturbed figure.
"""
import contextlib
import copy
import json
import math
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import model_reference as ref  # noqa: E402
import safetensors_file  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "model" / "goldens"
MAX_FILE_BYTES = 150_000
MAX_TOTAL_BYTES = 1_500_000
SEQUENCE = 0

TRANSFORMER = {"d_model": 32, "layers": 2, "heads": 4, "d_ff": 64}
DECODER = {"latent_size": 4, "latent_channels": 4, "image_size": 16, "vae_channels": 8,
           "d_model": 32, "layers": 2, "heads": 4, "d_ff": 24, "cond_dim": 32, "steps": 3,
           "guidance": 2.5, "seed": 11}
CASES = {
    "text_encoder": {"vocab": 97, **TRANSFORMER},
    "image_encoder": {"image_size": 16, "patch": 4, **TRANSFORMER},
    "video_encoder": {"frames": 4, "image_size": 16, "patch": 4, "tubelet": 2, **TRANSFORMER},
    "moe": {"d_model": 32, "d_ff": 16, "experts": 8, "top_k": 2, "shared_experts": 1},
    "diffusion_decoder": {**DECODER, "patch": 1},
    "video_decoder": {**DECODER, "patch": 2, "frames": 2},
}
TOLERANCE = {"f32": 1e-4, "bf16": 1e-2}
DECODER_TOLERANCE = {"f32": 1e-3, "bf16": 3e-2}
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}
TOKENS = [5, 0, 96, 42, 17, 42, 73]  # both ends of the vocabulary, one id twice (RoPE parts them)
MOE_TOKENS = 20
COND_ROWS = 5
# Top-k choices closer than this could flip between two correct implementations.
ROUTE_MARGIN = 1e-3
PERTURBATION = 1e-6
PERTURBED_TRIALS = 10


def close(found, expected, bound, what):
    error = ref.relative_rms(found, expected)
    assert error <= bound, f"{what}: relative RMS {error:.3g} over {bound:g}"


# ---- checks of the reference against independent formulations ----

def check_splitmix_and_noise():
    stream = ref.splitmix64(0)
    published = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]
    assert [next(stream) for _ in range(4)] == published, "splitmix64 differs from Vigna's outputs"
    noise = ref.latent_noise((20000,), seed=3, sequence=0)
    assert abs(noise.mean().item()) < 0.03 and abs(noise.std().item() - 1) < 0.03, "noise not N(0,1)"
    stream = ref.splitmix64((3 + ref.SPLITMIX_GAMMA * 5) & ref.MASK64)
    a, b = next(stream), next(stream)
    first = math.sqrt(-2 * math.log(((a >> 40) + 0.5) / 2 ** 24)) * math.cos(
        2 * math.pi * ((b >> 40) + 0.5) / 2 ** 24)
    assert ref.latent_noise((1,), seed=3, sequence=5).item() == np.float32(first)


def check_rope(generator):
    x = torch.randn(3, 9, 16, generator=generator, dtype=torch.float64)
    half = 8
    pairs = torch.complex(x[..., :half], x[..., half:])
    angle = torch.tensor([[p * 10000.0 ** (-2 * j / 16) for j in range(half)] for p in range(9)],
                         dtype=torch.float64)
    turned = pairs * torch.polar(torch.ones_like(angle), angle)
    close(ref.rope(x), torch.cat([turned.real, turned.imag], -1), 1e-12, "rope vs complex rotation")


def naive_block(x, w, heads):
    """One transformer block in f64 numpy, token by token and head by head."""
    x = x.astype(np.float64)
    tokens, d = x.shape
    hd = d // heads

    def norm(v, scale):
        return v / np.sqrt((v * v).mean() + ref.EPS) * scale

    def rotate(v, p):
        out = np.empty_like(v)
        for j in range(hd // 2):
            a = p * 10000.0 ** (-2 * j / hd)
            out[j] = v[j] * math.cos(a) - v[j + hd // 2] * math.sin(a)
            out[j + hd // 2] = v[j + hd // 2] * math.cos(a) + v[j] * math.sin(a)
        return out

    h = np.stack([norm(row, w["attn_norm.weight"]) for row in x])
    q, k, v = h @ w["attn.q.weight"], h @ w["attn.k.weight"], h @ w["attn.v.weight"]
    mixed = np.zeros_like(x)
    for head in range(heads):
        cols = slice(head * hd, (head + 1) * hd)
        qh = [rotate(q[p, cols], p) for p in range(tokens)]
        kh = [rotate(k[p, cols], p) for p in range(tokens)]
        for i in range(tokens):
            scores = np.array([qh[i] @ kh[j] for j in range(tokens)]) / math.sqrt(hd)
            p = np.exp(scores - scores.max())
            mixed[i, cols] = sum(p[j] / p.sum() * v[j, cols] for j in range(tokens))
    x = x + mixed @ w["attn.o.weight"]
    h = np.stack([norm(row, w["mlp_norm.weight"]) for row in x])
    gate = h @ w["mlp.gate.weight"]
    return x + (gate / (1 + np.exp(-gate)) * (h @ w["mlp.up.weight"])) @ w["mlp.down.weight"]


def check_block(generator):
    block = ref.init_random(ref.TransformerBlock(32, 4, 64), generator)
    x = torch.randn(7, 32, generator=generator)
    weights = {name: t.double().numpy() for name, t in block.state_dict().items()}
    close(block(x), torch.from_numpy(naive_block(x.numpy(), weights, 4)), 1e-6,
          "transformer block vs naive loops")


def check_conv_and_upsample(generator):
    conv = ref.init_random(ref.Conv3x3(3, 5), generator)
    x = torch.randn(2, 6, 7, 3, generator=generator, dtype=torch.float64)
    padded = F.pad(x, (0, 0, 1, 1, 1, 1))
    columns = torch.zeros(2, 6, 7, 9 * 3, dtype=torch.float64)
    for ky in range(3):
        for kx in range(3):
            for c in range(3):
                columns[..., (ky * 3 + kx) * 3 + c] = padded[:, ky:ky + 6, kx:kx + 7, c]
    im2col = columns @ conv.weight.double().reshape(27, 5) + conv.bias.double()
    close(conv(x), im2col, 1e-12, "conv3x3 vs im2col product")
    up = ref.upsample_nearest_2x(x)
    assert all(torch.equal(up[:, i, j], x[:, i // 2, j // 2]) for i in range(12) for j in range(14))


def check_patch_order(generator):
    video = torch.randn(4, 8, 12, 3, generator=generator)
    rows = ref.tubelets(video, 2, 4)
    expected = []
    for t0 in range(0, 4, 2):
        for row in range(2):
            for col in range(3):
                expected.append([video[t0 + t, row * 4 + py, col * 4 + px, c].item()
                                 for t in range(2) for py in range(4) for px in range(4)
                                 for c in range(3)])
    assert torch.equal(rows, torch.tensor(expected)), "tubelet order is not (t, py, px, c)"
    assert torch.equal(ref.untubelets(ref.tubelets(video, 1, 4), video.shape, 4), video)


def check_moe(generator):
    moe = ref.init_random(ref.MoE(16, 8, experts=6, top_k=2, shared_experts=2), generator)
    x = torch.randn(40, 16, generator=generator)
    p = torch.softmax(x @ moe.router.weight, -1)
    mask = torch.zeros(40, 6)
    for token in range(40):
        chosen = sorted(range(6), key=lambda e: (-p[token, e].item(), e))[:2]
        total = sum(p[token, e] for e in chosen)
        for e in chosen:
            mask[token, e] = p[token, e] / total
    dense = sum(mask[:, e:e + 1] * expert(x) for e, expert in enumerate(moe.experts))
    dense = dense + sum(shared(x) for shared in moe.shared)
    close(moe(x), dense, 1e-6, "moe vs dense masked sum")

    moe.router.weight = torch.zeros_like(moe.router.weight)
    chosen, weight = moe.route(x)
    assert torch.equal(chosen, torch.tensor([[0, 1]] * 40)), "ties must go to the lower index"
    assert torch.allclose(weight, torch.full((40, 2), 0.5))


def check_timestep_embedding():
    d, t = 10, 2 / 3
    half = d // 2
    f = [math.exp(-math.log(10000) * j / half) for j in range(half)]
    expected = [math.cos(1000 * t * fj) for fj in f] + [math.sin(1000 * t * fj) for fj in f]
    close(ref.timestep_embedding(t, d, torch.float64), torch.tensor(expected, dtype=torch.float64),
          1e-12, "timestep embedding vs math loop")


def check_sampler(generator):
    for guidance in (1.0, 2.5):
        params = {**DECODER, "patch": 2, "steps": 4, "guidance": guidance}
        decoder = ref.init_random(ref.VideoDecoder(**params, frames=2), generator)
        cond = torch.randn(3, params["cond_dim"], generator=generator, dtype=torch.float64)
        w = {name: t.double() for name, t in decoder.state_dict().items()}

        def conditioning(mean, t):
            temb = ref.timestep_embedding(t, params["d_model"], torch.float64)
            hidden = F.silu(temb @ w["time_mlp.0.weight"] + w["time_mlp.0.bias"])
            return (mean @ w["cond_proj.weight"] + w["cond_proj.bias"] +
                    hidden @ w["time_mlp.2.weight"] + w["time_mlp.2.bias"])

        z = decoder.noise(7).double()
        for i in range(params["steps"]):
            t = 1 - i / params["steps"]
            v = decoder.velocity(z, conditioning(cond.sum(0) / 3, t))
            if guidance != 1:
                unconditional = decoder.velocity(z, conditioning(torch.zeros(32, dtype=torch.float64), t))
                v = unconditional + guidance * (v - unconditional)
            z = z - v / params["steps"]
        close(decoder.sample(decoder.noise(7), cond), z, 1e-12, f"sampler, guidance {guidance}")


def check_bf16_bytes(generator):
    x = torch.cat([torch.randn(10000, generator=generator),
                   torch.tensor([1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 0.0, -0.0])])
    bits = x.numpy().view(np.uint32).astype(np.uint64)
    nearest_even = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    assert safetensors_file.tensor_bytes(x.to(torch.bfloat16)) == nearest_even.tobytes()


def check_reference():
    generator = torch.Generator().manual_seed(1234)
    check_splitmix_and_noise()
    check_rope(generator)
    check_block(generator)
    check_conv_and_upsample(generator)
    check_patch_order(generator)
    check_moe(generator)
    check_timestep_embedding()
    check_sampler(generator)
    check_bf16_bytes(generator)
    try:
        ref.TextEncoder(vocab=5, d_model=8, layers=1, heads=2, d_ff=8)(torch.tensor([5]))
        raise AssertionError("a token id ≥ vocab must be an error")
    except ValueError:
        pass


# ---- goldens ----

def moe_input(model, generator):
    """Tokens that route to every expert, with no top-k choice within ROUTE_MARGIN of a flip."""
    top_k, experts = model.top_k, len(model.experts)
    for _ in range(100):
        data = torch.randn(MOE_TOKENS, model.router.weight.shape[0], generator=generator)
        p = torch.sort(torch.softmax(model.router(data), -1), -1, descending=True).values
        chosen, _ = model.route(data)
        if (p[:, top_k - 1] - p[:, top_k]).min() >= ROUTE_MARGIN and \
                len(chosen.unique()) == experts:
            return data
    raise AssertionError("no MoE input routes to every expert with a safe margin")


def make_inputs(stage, params, model, generator):
    size = params.get("image_size")
    if stage == "text_encoder":
        return {"tokens": torch.tensor(TOKENS, dtype=torch.int64)}
    if stage == "image_encoder":
        return {"image": torch.rand(size, size, 3, generator=generator)}
    if stage == "video_encoder":
        return {"frames": torch.rand(params["frames"], size, size, 3, generator=generator)}
    if stage == "moe":
        return {"data": moe_input(model, generator)}
    return {"cond": torch.randn(COND_ROWS, params["cond_dim"], generator=generator)}


def run(stage, model, inputs, dtype):
    """The golden outputs, with activations in `dtype` (f32 as loom computes; f64 for drift)."""
    if stage == "text_encoder":
        return {"data": model(inputs["tokens"], dtype)}
    if stage in ("image_encoder", "video_encoder", "moe"):
        return {"data": model(next(iter(inputs.values())).to(dtype))}
    cond = inputs["cond"].to(dtype)
    noise = model.noise(SEQUENCE)
    image = model(cond, SEQUENCE)
    return {"image" if stage == "diffusion_decoder" else "frames": image.to(torch.float32),
            "velocity": model.guided_velocity(noise.to(dtype), 1.0, cond).to(torch.float32),
            "noise": noise}


def worst(outputs, against):
    return max(ref.relative_rms(outputs[name], against[name]) for name in outputs)


@contextlib.contextmanager
def perturbed_products(generator):
    """Every product's input × (1 + PERTURBATION·N(0, 1)), before any bf16 rounding."""
    exact = ref.product_input

    def perturbed(x, weight):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return exact(x * (1 + PERTURBATION * noise), weight)

    ref.product_input = perturbed
    try:
        yield
    finally:
        ref.product_input = exact


def make_golden(out_dir, stage, dtype_name, case_seed):
    params = CASES[stage]
    generator = torch.Generator().manual_seed(case_seed)
    model = ref.init_random(ref.STAGES[stage](**params), generator).to(DTYPES[dtype_name])
    inputs = make_inputs(stage, params, model, generator)
    with torch.no_grad():
        outputs = run(stage, model, inputs, torch.float32)
        drift = worst(run(stage, model, inputs, torch.float64), outputs)
        with perturbed_products(torch.Generator().manual_seed(case_seed)):
            perturbed = max(worst(run(stage, model, inputs, torch.float32), outputs)
                            for _ in range(PERTURBED_TRIALS))
        unrounded = None
        if dtype_name == "bf16":
            unrounded = worst(run(stage, copy.deepcopy(model).float(), inputs, torch.float32),
                              outputs)
    tolerance = (DECODER_TOLERANCE if "decoder" in stage else TOLERANCE)[dtype_name]
    assert tolerance >= 10 * drift and tolerance >= 5 * perturbed, \
        f"{stage} {dtype_name}: tolerance {tolerance:g} too close to the drift of a correct " \
        f"implementation (f64 {drift:.3g}, perturbed {perturbed:.3g})"
    for name in ("image", "frames"):
        if name in outputs:
            clamped = ((outputs[name] == 0) | (outputs[name] == 1)).float().mean().item()
            assert clamped < 0.25, f"{stage}: {clamped:.0%} of the pixels are clamped"

    tensors = dict(model.state_dict())
    tensors.update({f"golden.input.{name}": t for name, t in inputs.items()})
    tensors.update({f"golden.output.{name}": t.contiguous() for name, t in outputs.items()})
    base = out_dir / f"{stage}_{dtype_name}"
    safetensors_file.write(base.with_suffix(".safetensors"), tensors)
    written = safetensors_file.read(base.with_suffix(".safetensors"))
    assert list(written) == sorted(tensors, key=lambda n: -tensors[n].element_size())
    assert all(torch.equal(written[n], t) for n, t in tensors.items()), f"{base}: read back differs"
    description = {"stage": stage, "dtype": dtype_name, "params": {**params, "dtype": dtype_name},
                   "sequence": SEQUENCE, "tolerance": tolerance}
    base.with_suffix(".json").write_text(json.dumps(description, indent=2) + "\n")

    size = base.with_suffix(".safetensors").stat().st_size
    assert size <= MAX_FILE_BYTES, f"{base}: {size} bytes, over {MAX_FILE_BYTES}"
    extra = f", unrounded activations {unrounded:.2g}" if unrounded is not None else ""
    print(f"{base.relative_to(REPO) if base.is_relative_to(REPO) else base}.safetensors: "
          f"{size} bytes, {len(tensors)} tensors; tolerance {tolerance:g}, f64 drift {drift:.2g}, "
          f"perturbed {perturbed:.2g}{extra}")
    return size + base.with_suffix(".json").stat().st_size


def main():
    out_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    check_reference()
    print("reference checks passed")
    total = 0
    for case_seed, stage in enumerate(CASES, start=1):
        for dtype_name in DTYPES:
            total += make_golden(out_dir, stage, dtype_name, case_seed)
    assert total <= MAX_TOTAL_BYTES, f"goldens take {total} bytes, over {MAX_TOTAL_BYTES}"
    print(f"{total} bytes in {out_dir}")


if __name__ == "__main__":
    main()
