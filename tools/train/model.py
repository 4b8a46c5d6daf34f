"""The loom model family as trainable, batched PyTorch modules.

tools/reference/model_reference.py computes one packet at a time from weights it never trains;
this file computes the same arithmetic (docs/model-architecture.md) on batches of packets, with
parameters, and names every parameter as loom's safetensors files do (linear weights [in, out],
convolutions [kh, kw, in, out]). So `module.state_dict()` is a weights file loom loads, and
train.py checks that by loading it into the reference modules and comparing their outputs.

Text sequences in a batch have different lengths: they are padded at the end and carry a mask of
valid tokens; attention ignores padded keys, and since RoPE numbers tokens from 0 the valid ones
see exactly what loom computes for the unpadded sequence.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

import model_reference as ref


class Linear(nn.Module):
    def __init__(self, n_in, n_out, bias=True, zero=False):
        super().__init__()
        std = 0.0 if zero else 1.0 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * std)
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x):
        y = x @ self.weight
        return y if self.bias is None else y + self.bias


class Conv3x3(nn.Module):
    """Channels-last [N, H, W, in] → [N, H, W, out], padding 1, optional stride."""

    def __init__(self, n_in, n_out, stride=1):
        super().__init__()
        self.stride = stride
        self.weight = nn.Parameter(torch.randn(3, 3, n_in, n_out) / math.sqrt(9 * n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        y = F.conv2d(x.permute(0, 3, 1, 2).contiguous(), self.weight.permute(3, 2, 0, 1).contiguous(), self.bias,
                     stride=self.stride, padding=1)
        return y.permute(0, 2, 3, 1)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return ref.rms_norm(x, self.weight)


class Attention(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (Linear(d_model, d_model, bias=False) for _ in range(4))

    def forward(self, h, valid=None):
        """h [B, T, d]; valid [B, T] (True: a real token) or None."""
        batch, tokens, d_model = h.shape
        head_dim = d_model // self.heads

        def per_head(y):
            return y.view(batch, tokens, self.heads, head_dim).transpose(1, 2)

        q, k, v = ref.rope(per_head(self.q(h))), ref.rope(per_head(self.k(h))), per_head(self.v(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
        if valid is not None:
            scores = scores.masked_fill(~valid[:, None, None, :], float("-inf"))
        heads = torch.softmax(scores, dim=-1) @ v
        return self.o(heads.transpose(1, 2).reshape(batch, tokens, d_model))


class SwiGLU(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.gate = Linear(d_model, d_ff, bias=False)
        self.up = Linear(d_model, d_ff, bias=False)
        self.down = Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class TransformerBlock(nn.Module):
    def __init__(self, d_model, heads, d_ff):
        super().__init__()
        self.attn_norm = RMSNorm(d_model)
        self.attn = Attention(d_model, heads)
        self.mlp_norm = RMSNorm(d_model)
        self.mlp = SwiGLU(d_model, d_ff)

    def forward(self, x, valid=None):
        x = x + self.attn(self.attn_norm(x), valid)
        return x + self.mlp(self.mlp_norm(x))


def tubelets(x, tubelet, patch):
    """ref.tubelets on a batch: [B, N, H, W, C] → [B, rows, tubelet·patch²·C]."""
    b, n, h, w, c = x.shape
    blocks = x.reshape(b, n // tubelet, tubelet, h // patch, patch, w // patch, patch, c)
    return blocks.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, -1, tubelet * patch * patch * c)


def untubelets(rows, shape, patch):
    """The inverse of tubelets(x, 1, patch) for x of `shape` [B, N, H, W, C]."""
    b, n, h, w, c = shape
    blocks = rows.reshape(b, n, h // patch, w // patch, patch, patch, c)
    return blocks.permute(0, 1, 2, 4, 3, 5, 6).reshape(b, n, h, w, c)


class Encoder(nn.Module):
    def __init__(self, d_model, layers, heads, d_ff):
        super().__init__()
        self.blocks = nn.ModuleList(TransformerBlock(d_model, heads, d_ff) for _ in range(layers))
        self.norm = RMSNorm(d_model)

    def encode(self, x, valid=None):
        for block in self.blocks:
            x = block(x, valid)
        return self.norm(x)


class TextEncoder(Encoder):
    def __init__(self, vocab, d_model, layers, heads, d_ff):
        super().__init__(d_model, layers, heads, d_ff)
        self.embed = nn.Module()
        self.embed.weight = nn.Parameter(torch.randn(vocab, d_model) * 0.5)

    def forward(self, tokens, valid):
        return self.encode(self.embed.weight[tokens], valid)


class ImageEncoder(Encoder):
    def __init__(self, image_size, patch, d_model, layers, heads, d_ff):
        super().__init__(d_model, layers, heads, d_ff)
        self.patch = patch
        self.patch_embed = Linear(patch * patch * 3, d_model)

    def forward(self, images):
        """images [B, H, W, 3] in [0, 1]."""
        return self.encode(self.patch_embed(tubelets(2 * images[:, None] - 1, 1, self.patch)))


class VideoEncoder(Encoder):
    def __init__(self, frames, image_size, patch, tubelet, d_model, layers, heads, d_ff):
        super().__init__(d_model, layers, heads, d_ff)
        self.patch, self.tubelet = patch, tubelet
        self.tubelet_embed = Linear(tubelet * patch * patch * 3, d_model)

    def forward(self, clips):
        """clips [B, frames, H, W, 3] in [0, 1]."""
        return self.encode(self.tubelet_embed(tubelets(2 * clips - 1, self.tubelet, self.patch)))


class MoE(nn.Module):
    def __init__(self, d_model, d_ff, experts, top_k, shared_experts):
        super().__init__()
        self.top_k = top_k
        self.router = Linear(d_model, experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(d_model, d_ff) for _ in range(experts))
        self.shared = nn.ModuleList(SwiGLU(d_model, d_ff) for _ in range(shared_experts))

    def forward(self, x):
        """x [N, d] (tokens of every packet) → (out [N, d], load-balancing loss).

        The loss is the Switch Transformer's: experts × Σ_e (share of routed slots to e) ×
        (mean router probability of e); 1 when routing is uniform. It keeps every expert, and so
        both shards of the flagship, in use."""
        p = torch.softmax(self.router(x), dim=-1)
        gate, chosen = p.topk(self.top_k, dim=-1)
        gate = gate / gate.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = torch.nonzero(chosen == e, as_tuple=True)
            if token.numel():
                out = out.index_add(0, token, expert(x[token]) * gate[token, slot, None])
        for shared in self.shared:
            out = out + shared(x)
        experts = len(self.experts)
        share = F.one_hot(chosen, experts).float().sum((0, 1)) / chosen.numel()
        return out, experts * (share * p.mean(0)).sum()


def timestep_embedding(t, d):
    """ref.timestep_embedding for a batch of times t [B] → [B, d]."""
    half = d // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    angle = 1000.0 * t.double()[:, None] * f
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1).float()


class DiTBlock(nn.Module):
    def __init__(self, d_model, heads, d_ff):
        super().__init__()
        self.attn = Attention(d_model, heads)
        self.mlp = SwiGLU(d_model, d_ff)
        self.ada = Linear(d_model, 6 * d_model, zero=True)  # adaLN-Zero: each block starts as identity

    def forward(self, x, silu_c):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(silu_c)[:, None].chunk(6, dim=-1)
        x = x + gate1 * self.attn(ref.layer_norm(x) * (1 + scale1) + shift1)
        return x + gate2 * self.mlp(ref.layer_norm(x) * (1 + scale2) + shift2)


class FinalLayer(nn.Module):
    def __init__(self, d_model, patch_values):
        super().__init__()
        self.ada = Linear(d_model, 2 * d_model, zero=True)
        self.proj = Linear(d_model, patch_values, zero=True)

    def forward(self, x, silu_c):
        shift, scale = self.ada(silu_c)[:, None].chunk(2, dim=-1)
        return self.proj(ref.layer_norm(x) * (1 + scale) + shift)


class PixelDecoder(nn.Module):
    """vae.*: latents [N, h, w, C] → pixels [N, h·2^n, w·2^n, 3]; `clamp` off while training so
    that saturated pixels still pass gradients."""

    def __init__(self, latent_channels, vae_channels, upsamplings):
        super().__init__()
        self.conv_in = Conv3x3(latent_channels, vae_channels)
        self.up = nn.ModuleList(Conv3x3(vae_channels, vae_channels) for _ in range(upsamplings))
        self.conv_out = Conv3x3(vae_channels, 3)

    def forward(self, z, clamp=True):
        y = F.silu(self.conv_in(z))
        for conv in self.up:
            y = F.silu(conv(ref.upsample_nearest_2x(y)))
        pixels = (self.conv_out(y) + 1) / 2
        return torch.clamp(pixels, 0, 1) if clamp else pixels


class PixelEncoder(nn.Module):
    """Training only (loom has no use for it): pixels → latents, the pixel decoder's inverse."""

    def __init__(self, latent_channels, vae_channels, downsamplings):
        super().__init__()
        self.conv_in = Conv3x3(3, vae_channels)
        self.down = nn.ModuleList(Conv3x3(vae_channels, vae_channels, stride=2)
                                  for _ in range(downsamplings))
        self.conv_out = Conv3x3(vae_channels, latent_channels)

    def forward(self, pixels):
        y = F.silu(self.conv_in(2 * pixels - 1))
        for conv in self.down:
            y = F.silu(conv(y))
        return self.conv_out(y)


class FlowDecoder(nn.Module):
    """The velocity network of diffusion_decoder / video_decoder, plus its pixel decoder."""

    def __init__(self, latent_size, latent_channels, patch, image_size, vae_channels, d_model,
                 layers, heads, d_ff, cond_dim, frames=1, **_sampling):
        super().__init__()
        self.upsamplings = (image_size // latent_size).bit_length() - 1
        self.latent_shape = (frames, latent_size, latent_size, latent_channels)
        self.patch, self.d_model = patch, d_model
        patch_values = patch * patch * latent_channels
        self.cond_proj = Linear(cond_dim, d_model)
        self.time_mlp = nn.Sequential(Linear(d_model, d_model), nn.SiLU(), Linear(d_model, d_model))
        self.latent_embed = Linear(patch_values, d_model)
        self.pos_embed = nn.Module()
        self.pos_embed.weight = nn.Parameter(
            torch.randn(frames * (latent_size // patch) ** 2, d_model) * 0.1)
        self.blocks = nn.ModuleList(DiTBlock(d_model, heads, d_ff) for _ in range(layers))
        self.final = FinalLayer(d_model, patch_values)
        self.vae = PixelDecoder(latent_channels, vae_channels, self.upsamplings)

    def conditioning(self, cond_mean, t):
        return self.cond_proj(cond_mean) + self.time_mlp(timestep_embedding(t, self.d_model))

    def velocity(self, z, c):
        """z [B, frames, h, w, C], c [B, d] → v like z."""
        silu_c = F.silu(c)
        x = self.latent_embed(tubelets(z, 1, self.patch)) + self.pos_embed.weight
        for block in self.blocks:
            x = block(x, silu_c)
        return untubelets(self.final(x, silu_c), z.shape, self.patch)
