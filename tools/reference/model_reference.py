"""The PyTorch reference of loom's model stages: what docs/model-architecture.md says each stage
computes, written a second time, independently of the C++ in stages/model/, so the golden tests
(tests/test_encoders.cpp, test_moe.cpp and test_diffusion.cpp through tests/model_golden.hpp, on
files from make_model_goldens.py) can check one against the other.

Each stage is a torch.nn.Module whose state_dict() names and shapes are exactly the documented
tensor names and layouts (linear weights [in, out], convolutions [kh, kw, in, out]), so a model's
state_dict() is what its safetensors file holds and load_state_dict() reads one back. The
weights are buffers, not parameters: they come from a file and are never trained.

    import torch, model_reference as ref
    encoder = ref.TextEncoder(vocab=97, d_model=32, layers=2, heads=4, d_ff=64)
    ref.init_random(encoder, torch.Generator().manual_seed(1))
    encoder.to(torch.bfloat16)                       # a bf16 weights file
    data = encoder(torch.tensor([3, 1, 4]))          # "data" [3, 32], f32

bf16 is loom's semantics, not PyTorch's autocast: with bf16 weights the arithmetic stays f32 on
the widened values, but the activation going into every product with a weight matrix (linear
layers, convolutions; not q·kᵀ or p·v) is rounded to bf16 first, as loom's bf16 kernels read it.
Activations follow the input's dtype: loom's stages compute in f32; make_model_goldens.py also
runs them in f64 to measure how far a correct implementation may drift from the goldens.
"""
import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-6
ROPE_THETA = 10000.0
MASK64 = (1 << 64) - 1
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15


def round_bf16(x):
    return x.to(torch.bfloat16).to(x.dtype)


def product_input(x, weight):
    """The activation as a product with `weight` reads it: rounded to bf16 for bf16 weights."""
    return round_bf16(x) if weight.dtype == torch.bfloat16 else x


def rms_norm(x, weight):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * weight.to(x.dtype)


def layer_norm(x):
    mean = x.mean(-1, keepdim=True)
    centred = x - mean
    return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + EPS)


def relative_rms(found, expected):
    """The golden tests' measure: rms(found − expected) / rms(expected)."""
    found, expected = found.double(), expected.double()
    return (torch.sqrt((found - expected).pow(2).mean()) /
            torch.sqrt(expected.pow(2).mean()).clamp_min(1e-300)).item()


def normal(shape, generator, std):
    return torch.randn(shape, generator=generator) * std


class Linear(nn.Module):
    """y = x · weight + bias, weight stored [in, out] as loom stores it."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.register_buffer("weight", torch.zeros(n_in, n_out))
        self.register_buffer("bias", torch.zeros(n_out) if bias else None)

    def reset_random(self, generator):
        std = 0.5 / math.sqrt(self.weight.shape[0])
        self.weight = normal(self.weight.shape, generator, std)
        if self.bias is not None:
            self.bias = normal(self.bias.shape, generator, std)

    def forward(self, x):
        y = product_input(x, self.weight) @ self.weight.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)


class Conv3x3(nn.Module):
    """3×3 convolution, padding 1, on channels-last [N, H, W, in]; weight stored [3, 3, in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.register_buffer("weight", torch.zeros(3, 3, n_in, n_out))
        self.register_buffer("bias", torch.zeros(n_out))

    def reset_random(self, generator):
        std = 0.5 / math.sqrt(9 * self.weight.shape[2])
        self.weight = normal(self.weight.shape, generator, std)
        self.bias = normal(self.bias.shape, generator, std)

    def forward(self, x):
        kernel = self.weight.to(x.dtype).permute(3, 2, 0, 1)  # torch's [out, in, kh, kw]
        channels_first = product_input(x, self.weight).permute(0, 3, 1, 2)
        y = F.conv2d(channels_first, kernel, self.bias.to(x.dtype), padding=1)
        return y.permute(0, 2, 3, 1)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.register_buffer("weight", torch.ones(d))

    def reset_random(self, generator):
        # Around one but not one, so an implementation that skips the scale fails.
        self.weight = 1 + normal(self.weight.shape, generator, 0.5 / math.sqrt(len(self.weight)))

    def forward(self, x):
        return rms_norm(x, self.weight)


class Embedding(nn.Module):
    def __init__(self, vocab, d):
        super().__init__()
        self.register_buffer("weight", torch.zeros(vocab, d))

    def reset_random(self, generator):
        self.weight = normal(self.weight.shape, generator, 1.0)

    def forward(self, tokens, dtype):
        vocab = self.weight.shape[0]
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab):
            raise ValueError(f"text_encoder: token ids must be in [0, {vocab}), found "
                             f"{tokens.min().item()}..{tokens.max().item()}; use a tokenizer "
                             f"whose vocabulary fits the model's vocab")
        return self.weight.to(dtype)[tokens]


def init_random(model, generator):
    """Every tensor of `model` from `generator`: normal × 0.5/sqrt(fan_in) for matrices and
    biases, 1 + that for norm scales, unit normal for embedding tables; in module order, so the
    same generator state gives the same weights."""
    for module in model.modules():
        if hasattr(module, "reset_random"):
            module.reset_random(generator)
    return model


@functools.lru_cache(maxsize=None)
def rope_tables(tokens, head_dim, dtype):
    """cos and sin of p · theta^(−2j/head_dim), [tokens, head_dim/2], from f64 angles."""
    j = torch.arange(head_dim // 2, dtype=torch.float64)
    angle = torch.arange(tokens, dtype=torch.float64)[:, None] * ROPE_THETA ** (-2.0 * j / head_dim)
    return torch.cos(angle).to(dtype), torch.sin(angle).to(dtype)


def rope(x):
    """Rotate-half RoPE on [..., tokens, head_dim], token p at position p."""
    tokens, head_dim = x.shape[-2], x.shape[-1]
    cos, sin = rope_tables(tokens, head_dim, x.dtype)
    first, second = x[..., :head_dim // 2], x[..., head_dim // 2:]
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


class Attention(nn.Module):
    """Bidirectional multi-head attention with RoPE on q and k; no biases."""

    def __init__(self, d_model, heads):
        super().__init__()
        if d_model % heads or (d_model // heads) % 2:
            raise ValueError(f"attention: d_model {d_model} must split into {heads} heads of an "
                             f"even head_dim (RoPE rotates pairs); change d_model or heads")
        self.heads = heads
        self.q = Linear(d_model, d_model, bias=False)
        self.k = Linear(d_model, d_model, bias=False)
        self.v = Linear(d_model, d_model, bias=False)
        self.o = Linear(d_model, d_model, bias=False)

    def forward(self, h):
        tokens, d_model = h.shape
        head_dim = d_model // self.heads

        def per_head(y):
            return y.view(tokens, self.heads, head_dim).transpose(0, 1)

        q, k, v = rope(per_head(self.q(h))), rope(per_head(self.k(h))), per_head(self.v(h))
        scores = q @ k.transpose(1, 2) / math.sqrt(head_dim)
        heads = torch.softmax(scores, dim=-1) @ v
        return self.o(heads.transpose(0, 1).reshape(tokens, d_model))


class SwiGLU(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.gate = Linear(d_model, d_ff, bias=False)
        self.up = Linear(d_model, d_ff, bias=False)
        self.down = Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class TransformerBlock(nn.Module):
    """blocks.{i}: pre-norm attention and SwiGLU, each added to the residual stream."""

    def __init__(self, d_model, heads, d_ff):
        super().__init__()
        self.attn_norm = RMSNorm(d_model)
        self.attn = Attention(d_model, heads)
        self.mlp_norm = RMSNorm(d_model)
        self.mlp = SwiGLU(d_model, d_ff)

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


def tubelets(x, tubelet, patch):
    """[N, H, W, C] → one row per tubelet, ordered (time, patch row, patch column), each row in
    (t, py, px, c) order; tubelet = 1 gives per-frame patches in (py, px, c) order."""
    n, h, w, c = x.shape
    if n % tubelet or h % patch or w % patch:
        raise ValueError(f"patchify: [{n}, {h}, {w}, {c}] does not split into tubelets of "
                         f"{tubelet} frames × {patch}×{patch} pixels")
    blocks = x.reshape(n // tubelet, tubelet, h // patch, patch, w // patch, patch, c)
    return blocks.permute(0, 2, 4, 1, 3, 5, 6).reshape(-1, tubelet * patch * patch * c)


def untubelets(rows, shape, patch):
    """The inverse of tubelets(x, 1, patch) for an x of `shape` [N, H, W, C]."""
    n, h, w, c = shape
    blocks = rows.reshape(n, h // patch, w // patch, patch, patch, c)
    return blocks.permute(0, 1, 3, 2, 4, 5).reshape(n, h, w, c)


def signed_pixels(pixels):
    """u8 (÷255) or f32 in [0, 1] → 2p − 1; f64 stays f64."""
    if pixels.dtype == torch.uint8:
        pixels = pixels.to(torch.float32) / 255
    return 2 * pixels - 1


class Encoder(nn.Module):
    def __init__(self, d_model, layers, heads, d_ff):
        super().__init__()
        self.blocks = nn.ModuleList(TransformerBlock(d_model, heads, d_ff) for _ in range(layers))
        self.norm = RMSNorm(d_model)

    def encode(self, x):
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class TextEncoder(Encoder):
    def __init__(self, vocab, d_model, layers, heads, d_ff):
        super().__init__(d_model, layers, heads, d_ff)
        self.embed = Embedding(vocab, d_model)

    def forward(self, tokens, dtype=torch.float32):
        return self.encode(self.embed(tokens, dtype))


class ImageEncoder(Encoder):
    def __init__(self, image_size, patch, d_model, layers, heads, d_ff):
        super().__init__(d_model, layers, heads, d_ff)
        self.image_size, self.patch = image_size, patch
        self.patch_embed = Linear(patch * patch * 3, d_model)

    def forward(self, image):
        expected = (self.image_size, self.image_size, 3)
        if tuple(image.shape) != expected:
            raise ValueError(f"image_encoder: image is {list(image.shape)}, expected "
                             f"{list(expected)}; resize it or set image_size")
        return self.encode(self.patch_embed(tubelets(signed_pixels(image)[None], 1, self.patch)))


class VideoEncoder(Encoder):
    def __init__(self, frames, image_size, patch, tubelet, d_model, layers, heads, d_ff):
        super().__init__(d_model, layers, heads, d_ff)
        self.frames, self.image_size, self.patch, self.tubelet = frames, image_size, patch, tubelet
        self.tubelet_embed = Linear(tubelet * patch * patch * 3, d_model)

    def forward(self, frames):
        expected = (self.frames, self.image_size, self.image_size, 3)
        if tuple(frames.shape) != expected:
            raise ValueError(f"video_encoder: frames are {list(frames.shape)}, expected "
                             f"{list(expected)}; set frames and image_size to the clip's")
        rows = tubelets(signed_pixels(frames), self.tubelet, self.patch)
        return self.encode(self.tubelet_embed(rows))


class MoE(nn.Module):
    """DeepSeek-style MoE layer: routed SwiGLU experts plus always-on shared ones."""

    def __init__(self, d_model, d_ff, experts, top_k, shared_experts):
        super().__init__()
        if not 1 <= top_k <= experts:
            raise ValueError(f"moe: top_k {top_k} must be in [1, experts = {experts}]")
        self.top_k = top_k
        self.router = Linear(d_model, experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(d_model, d_ff) for _ in range(experts))
        self.shared = nn.ModuleList(SwiGLU(d_model, d_ff) for _ in range(shared_experts))

    def route(self, x):
        """(experts [T, top_k], normalised weights [T, top_k]); of equal probabilities the lower
        expert index wins, which a stable descending sort gives and torch.topk does not promise."""
        p = torch.softmax(self.router(x), dim=-1)
        chosen = torch.sort(p, dim=-1, descending=True, stable=True).indices[:, :self.top_k]
        gate = p.gather(-1, chosen)
        return chosen, gate / gate.sum(-1, keepdim=True)

    def forward(self, x):
        chosen, weight = self.route(x)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = torch.nonzero(chosen == e, as_tuple=True)
            if token.numel():
                out.index_add_(0, token, expert(x[token]) * weight[token, slot, None])
        for shared in self.shared:
            out = out + shared(x)
        return out


def timestep_embedding(t, d, dtype):
    """[cos(1000·t·f_j) for j] ++ [sin(1000·t·f_j) for j], f_j = exp(−ln(10000)·j/(d/2)), in f64."""
    half = d // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    angle = 1000.0 * t * f
    return torch.cat([torch.cos(angle), torch.sin(angle)]).to(dtype)


def splitmix64(seed):
    """The splitmix64 stream from `seed`, as Python ints in [0, 2⁶⁴)."""
    state = seed & MASK64
    while True:
        state = (state + SPLITMIX_GAMMA) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def latent_noise(shape, seed, sequence):
    """The initial latent for packet `sequence`: Box–Muller normals from splitmix64, computed in
    f64 and rounded to f32, element n from draws 2n and 2n + 1."""
    stream = splitmix64(seed + SPLITMIX_GAMMA * sequence)
    values = []
    for _ in range(math.prod(shape)):
        u1 = ((next(stream) >> 40) + 0.5) / 2 ** 24
        u2 = ((next(stream) >> 40) + 0.5) / 2 ** 24
        values.append(math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2))
    return torch.tensor(values, dtype=torch.float64).to(torch.float32).reshape(shape)


class DiTBlock(nn.Module):
    """blocks.{i} of the velocity network: the transformer block's attention and SwiGLU with
    adaLN (shift, scale, gate) from the conditioning vector in place of the RMS norms."""

    def __init__(self, d_model, heads, d_ff):
        super().__init__()
        self.attn = Attention(d_model, heads)
        self.mlp = SwiGLU(d_model, d_ff)
        self.ada = Linear(d_model, 6 * d_model)

    def forward(self, x, silu_c):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(silu_c).chunk(6)
        x = x + gate1 * self.attn(layer_norm(x) * (1 + scale1) + shift1)
        return x + gate2 * self.mlp(layer_norm(x) * (1 + scale2) + shift2)


class FinalLayer(nn.Module):
    def __init__(self, d_model, patch_values):
        super().__init__()
        self.ada = Linear(d_model, 2 * d_model)
        self.proj = Linear(d_model, patch_values)

    def forward(self, x, silu_c):
        shift, scale = self.ada(silu_c).chunk(2)
        return self.proj(layer_norm(x) * (1 + scale) + shift)


def upsample_nearest_2x(y):
    return y.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)


class PixelDecoder(nn.Module):
    """vae.*: latent [N, h, w, C] → pixels [N, h·2^n_up, w·2^n_up, 3] in [0, 1]."""

    def __init__(self, latent_channels, vae_channels, upsamplings):
        super().__init__()
        self.conv_in = Conv3x3(latent_channels, vae_channels)
        self.up = nn.ModuleList(Conv3x3(vae_channels, vae_channels) for _ in range(upsamplings))
        self.conv_out = Conv3x3(vae_channels, 3)

    def forward(self, z):
        y = F.silu(self.conv_in(z))
        for conv in self.up:
            y = F.silu(conv(upsample_nearest_2x(y)))
        return torch.clamp((self.conv_out(y) + 1) / 2, 0, 1)


class FlowDecoder(nn.Module):
    """The DiT velocity network, its rectified-flow Euler sampler with classifier-free guidance,
    and the pixel decoder, shared by diffusion_decoder (frames = 1) and video_decoder.
    The time MLP's hidden width is d_model (time_mlp.0.weight [d, d], time_mlp.2.weight [d, d])."""

    def __init__(self, latent_size, latent_channels, patch, image_size, vae_channels, d_model,
                 layers, heads, d_ff, cond_dim, steps, guidance, seed, frames=1):
        super().__init__()
        upsamplings = (image_size // latent_size).bit_length() - 1
        if upsamplings < 0 or latent_size << upsamplings != image_size:
            raise ValueError(f"decoder: image_size {image_size} must be latent_size {latent_size} "
                             f"times a power of two")
        if latent_size % patch or d_model % 2:
            raise ValueError(f"decoder: latent_size {latent_size} must be a multiple of patch "
                             f"{patch} and d_model {d_model} even")
        self.latent_shape = (frames, latent_size, latent_size, latent_channels)
        self.patch, self.cond_dim, self.d_model = patch, cond_dim, d_model
        self.steps, self.guidance, self.seed = steps, guidance, seed
        patch_values = patch * patch * latent_channels
        self.cond_proj = Linear(cond_dim, d_model)
        self.time_mlp = nn.Sequential(Linear(d_model, d_model), nn.SiLU(), Linear(d_model, d_model))
        self.latent_embed = Linear(patch_values, d_model)
        self.pos_embed = Embedding(frames * (latent_size // patch) ** 2, d_model)
        self.blocks = nn.ModuleList(DiTBlock(d_model, heads, d_ff) for _ in range(layers))
        self.final = FinalLayer(d_model, patch_values)
        self.vae = PixelDecoder(latent_channels, vae_channels, upsamplings)

    def conditioning(self, cond_mean, t):
        temb = timestep_embedding(t, self.d_model, cond_mean.dtype)
        return self.cond_proj(cond_mean) + self.time_mlp(temb)

    def velocity(self, z, c):
        silu_c = F.silu(c)
        x = self.latent_embed(tubelets(z, 1, self.patch)) + self.pos_embed.weight.to(z.dtype)
        for block in self.blocks:
            x = block(x, silu_c)
        return untubelets(self.final(x, silu_c), z.shape, self.patch)

    def guided_velocity(self, z, t, cond):
        """v_u + guidance·(v_c − v_u); the unconditional branch sees cond = zeros."""
        v_c = self.velocity(z, self.conditioning(cond.mean(0), t))
        if self.guidance == 1:
            return v_c
        v_u = self.velocity(z, self.conditioning(torch.zeros_like(cond[0]), t))
        return v_u + self.guidance * (v_c - v_u)

    def noise(self, sequence=0):
        return latent_noise(self.latent_shape, self.seed, sequence)

    def sample(self, noise, cond):
        """Euler from t = 1 (noise) to t = 0 in `steps` steps of 1/steps."""
        z = noise.to(cond.dtype)
        for i in range(self.steps):
            z = z - self.guided_velocity(z, 1 - i / self.steps, cond) / self.steps
        return z

    def check_cond(self, cond):
        if cond.dim() != 2 or cond.shape[1] != self.cond_dim or cond.shape[0] == 0:
            raise ValueError(f"decoder: cond is {list(cond.shape)}, expected [Tc, {self.cond_dim}] "
                             f"with Tc ≥ 1; set cond_dim to the encoder's d_model")

    def decode(self, cond, sequence=0):
        self.check_cond(cond)
        return self.vae(self.sample(self.noise(sequence), cond))


class DiffusionDecoder(FlowDecoder):
    def forward(self, cond, sequence=0):
        """Returns "image" [image_size, image_size, 3] for packet `sequence`."""
        return self.decode(cond, sequence)[0]


class VideoDecoder(FlowDecoder):
    def forward(self, cond, sequence=0):
        """Returns "frames" [frames, image_size, image_size, 3] for packet `sequence`."""
        return self.decode(cond, sequence)


STAGES = {
    "text_encoder": TextEncoder,
    "image_encoder": ImageEncoder,
    "video_encoder": VideoEncoder,
    "moe": MoE,
    "diffusion_decoder": DiffusionDecoder,
    "video_decoder": VideoDecoder,
}
