// The DiT velocity network (see velocity_network.hpp). The two guidance branches share the patch
// embedding (same latent, same weights) and are projected back by one product over both
// branches' rows; the blocks run per branch because each has its own conditioning vector.
#include "stages/model/diffusion/velocity_network.hpp"

#include <algorithm>
#include <string>

#include "stages/model/kernels/activations.hpp"
#include "stages/model/kernels/norms.hpp"
#include "stages/model/layers/widen.hpp"

namespace loom {
namespace {

void append(std::vector<weight_spec>& all, std::vector<weight_spec> part) {
  all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
}

std::size_t count(std::int64_t n) { return static_cast<std::size_t>(n); }

}  // namespace

std::vector<weight_spec> velocity_network::specs(const decoder_config& c) {
  std::vector<weight_spec> all;
  append(all, linear::specs("latent_embed", c.token_size(), c.d_model, true, c.type));
  all.push_back({"pos_embed.weight", c.type, {c.tokens(), c.d_model}});
  append(all, conditioning::specs(c));
  for (std::int64_t i = 0; i < c.layers; ++i)
    append(all,
           adaln_block::specs("blocks." + std::to_string(i), c.d_model, c.heads, c.d_ff, c.type));
  append(all, linear::specs("final.ada", c.d_model, 2 * c.d_model, true, c.type));
  append(all, linear::specs("final.proj", c.d_model, c.token_size(), true, c.type));
  return all;
}

velocity_network::velocity_network(const weights& w, const decoder_config& c)
    : config_(c),
      conditioning_(w, c),
      latent_embed_(w, "latent_embed"),
      final_ada_(w, "final.ada"),
      final_proj_(w, "final.proj"),
      pos_embed_(widen_to_f32(w.get("pos_embed.weight"))),
      patches_(count(c.tokens() * c.token_size())),
      x_(count(2 * c.tokens() * c.d_model)),
      normed_(count(2 * c.tokens() * c.d_model)),
      out_tokens_(count(2 * c.tokens() * c.token_size())),
      condition_half_(count(2 * c.d_model)),
      time_half_(count(c.d_model)),
      c_(count(c.d_model)),
      silu_c_(count(c.d_model)),
      final_modulation_(count(2 * c.d_model)) {
  layout_.frames = c.frames;
  layout_.height = c.latent_size;
  layout_.width = c.latent_size;
  layout_.channels = c.latent_channels;
  layout_.patch = c.patch;
  layout_.check();
  blocks_.reserve(count(c.layers));
  for (std::int64_t i = 0; i < c.layers; ++i)
    blocks_.emplace_back(w, "blocks." + std::to_string(i), c.heads);
}

void velocity_network::set_condition(device& dev, const float* cond, std::int64_t rows) {
  conditioning_.condition(dev, cond, rows, condition_half_.data());
  conditioning_.condition(dev, nullptr, 0, condition_half_.data() + config_.d_model);
}

void velocity_network::velocity(device& dev, const float* z, double t, double guidance, float* v) {
  const std::int64_t tokens = config_.tokens(), d = config_.d_model, size = config_.token_size();
  const std::int64_t branches = guidance != 1.0 ? 2 : 1;
  conditioning_.time(dev, t, time_half_.data());
  kernels::patchify(z, patches_.data(), layout_);
  latent_embed_.forward(dev, patches_.data(), tokens, size, x_.data(), d);
  for (std::int64_t i = 0; i < tokens * d; ++i) x_[count(i)] += pos_embed_[count(i)];
  if (branches == 2) std::copy_n(x_.data(), tokens * d, x_.data() + tokens * d);
  for (std::int64_t b = 0; b < branches; ++b) {
    const float* condition = condition_half_.data() + b * d;
    for (std::int64_t j = 0; j < d; ++j) c_[count(j)] = condition[j] + time_half_[count(j)];
    run_branch(dev, x_.data() + b * tokens * d, c_.data(), normed_.data() + b * tokens * d);
  }
  final_proj_.forward(dev, normed_.data(), branches * tokens, d, out_tokens_.data(), size);
  if (branches == 2) {
    // Element-wise, so it can run on the token rows before they are put back in latent order.
    const float g = static_cast<float>(guidance);
    float* conditional = out_tokens_.data();
    const float* unconditional = conditional + tokens * size;
    for (std::int64_t i = 0; i < tokens * size; ++i)
      conditional[i] = unconditional[i] + g * (conditional[i] - unconditional[i]);
  }
  kernels::unpatchify(out_tokens_.data(), v, layout_);
}

void velocity_network::run_branch(device& dev, float* x, const float* c, float* normed) {
  const std::int64_t tokens = config_.tokens(), d = config_.d_model;
  for (auto& block : blocks_) block.forward(dev, x, tokens, c);
  std::copy_n(c, d, silu_c_.data());
  kernels::silu(silu_c_.data(), d);
  final_ada_.forward(dev, silu_c_.data(), 1, d, final_modulation_.data(), 2 * d);
  kernels::modulated_layer_norm(x, final_modulation_.data(), final_modulation_.data() + d, normed,
                                tokens, d);
}

}  // namespace loom
