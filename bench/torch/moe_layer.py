#!/usr/bin/python3
"""The PyTorch CPU peer of loom's MoE benchmark: one DeepSeek-style MoE layer (softmax router,
top-k, normalised gates, SwiGLU experts, shared experts; docs/model-architecture.md) written the
way Hugging Face's Mixtral and DeepSeek implementations run it on CPU: route, then per expert
gather the tokens routed to it, run the expert on just those rows and index_add_ the weighted
result. f32, nn.Linear weights, under torch.no_grad().

    /usr/bin/python3 bench/torch/moe_layer.py --tokens 1024 --d-model 1024 --d-ff 512 \
        --experts 16 --top-k 2 --shared 1 --threads 2 --repeat 10

Prints one line of JSON: {"peer": "pytorch", "version", "ms" (median of `repeat` forwards after
a warm-up), "gflops" (useful FLOP/s: 2·T·d·E for the router plus, per token, (top_k + shared)
experts of 3 products of 2·d·d_ff), and the sizes}.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import cpu_threads


class Expert(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class MoELayer(nn.Module):
    def __init__(self, d_model, d_ff, experts, top_k, shared):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(d_model, experts, bias=False)
        self.experts = nn.ModuleList(Expert(d_model, d_ff) for _ in range(experts))
        self.shared = nn.ModuleList(Expert(d_model, d_ff) for _ in range(shared))

    def forward(self, x):
        p = torch.softmax(self.router(x), dim=-1)
        gate, chosen = torch.topk(p, self.top_k, dim=-1)
        gate = gate / gate.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(chosen == e)
            if token.numel():
                out.index_add_(0, token, expert(x[token]) * gate[token, slot, None])
        for shared in self.shared:
            out += shared(x)
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--d-model", type=int, default=1024)
    parser.add_argument("--d-ff", type=int, default=512)
    parser.add_argument("--experts", type=int, default=16)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--shared", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cpu_threads.use(args.threads)
    torch.manual_seed(args.seed)
    layer = MoELayer(args.d_model, args.d_ff, args.experts, args.top_k, args.shared).eval()
    x = torch.randn(args.tokens, args.d_model)
    times = []
    with torch.no_grad():
        layer(x)
        for _ in range(args.repeat):
            start = time.perf_counter()
            layer(x)
            times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1e3
    flops = (2 * args.tokens * args.d_model * args.experts +
             args.tokens * (args.top_k + args.shared) * 3 * 2 * args.d_model * args.d_ff)
    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "ms": round(ms, 3),
                      "gflops": round(flops / (ms * 1e-3) / 1e9, 2), "tokens": args.tokens,
                      "d_model": args.d_model, "d_ff": args.d_ff, "experts": args.experts,
                      "top_k": args.top_k, "shared": args.shared, "threads": args.threads,
                      "repeat": args.repeat}))


if __name__ == "__main__":
    main()
