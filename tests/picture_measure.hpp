// Measures a generated picture the way a reader checks it against its caption: which palette
// colour the shape has, which of the four shapes it is, where it sits and which way a clip moves.
// The pictures are those tools/train/shapes.py draws and the tiny model learns: one shape on a
// plain light background; the palette and the shapes' geometry are shapes.py's. Pixels are f32
// RGB [H, W, 3] in [0, 1], row-major, channels last (a clip: n such frames one after another).
//
//   auto m = loom::test::measure(pixels, 64, 64);   // m.colour == "blue", m.shape == "square"
//
// The background is the median colour of the border pixels, so a tinted or striped one works; the
// shape is the largest 8-connected blob of pixels clearly away from it, so stray specks do not move
// it. Its colour is the nearest palette colour to the median of the blob's half farthest from the
// background (edge pixels, part background, would pull a mean of all off); its shape is the
// template with the best IoU, each fitted by hill climbing over centre and radius from where the
// blob's centroid and area put it. A picture with no such blob, or whose border is not mostly one
// colour (noise), measures as nothing: empty names, so a caller never counts a blank or noisy
// picture as right.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace loom::test {

struct rgb {
  double r = 0, g = 0, b = 0;
};

// shapes.py's COLOURS.
inline const std::vector<std::pair<std::string, rgb>>& palette() {
  static const std::vector<std::pair<std::string, rgb>> colours{
      {"red", {0.86, 0.12, 0.12}},    {"green", {0.15, 0.70, 0.20}},  {"blue", {0.15, 0.25, 0.90}},
      {"yellow", {0.95, 0.85, 0.10}}, {"purple", {0.60, 0.20, 0.75}}, {"orange", {0.98, 0.55, 0.10}}};
  return colours;
}

inline const std::array<std::string, 4>& shape_names() {
  static const std::array<std::string, 4> names{"circle", "square", "triangle", "star"};
  return names;
}

// shapes.py's shape_mask for one point: (x, y) is the offset from the shape's centre (x right,
// y down) in the same unit as `radius`.
inline bool inside_shape(const std::string& kind, double x, double y, double radius) {
  if (kind == "circle") return x * x + y * y <= radius * radius;
  if (kind == "square") return std::abs(x) <= 0.85 * radius && std::abs(y) <= 0.85 * radius;
  if (kind == "triangle") {
    const double top = -radius, base = 0.75 * radius;
    return y <= base && y >= top + 2 * std::abs(x) * (base - top) / (2 * radius);
  }
  const double half_turn = 3.14159265358979323846;
  const double spikes = 0.5 + 0.5 * std::cos(5 * (std::atan2(y, x) + half_turn / 2));
  return std::sqrt(x * x + y * y) <= radius * (0.45 + 0.55 * spikes * spikes);
}

// A blob's L1 distance from the background above this is the shape: the shapes are saturated
// colours on a light background (≥ 0.6 away), a texture's stripes and decoding noise stay well
// below (0.18 + a little).
inline constexpr double foreground_threshold = 0.3;
// Colours further than this (Euclidean RGB) from every palette colour are no palette colour;
// the closest two palette colours (yellow, orange) are 0.30 apart.
inline constexpr double max_colour_distance = 0.3;
// A best template IoU below this is no shape (a fitted circle on a random blob gets about 0.5).
inline constexpr double min_shape_iou = 0.6;

struct measured {
  std::string colour;  // palette name; "" when nothing was measured or no colour is near
  double colour_distance = 0;
  std::string shape;  // one of shape_names(); "" when nothing was measured or no template fits
  double iou = 0, runner_up_iou = 0;  // of the best and second-best template
  double x = 0, y = 0;                // the blob's centroid, fractions of the width and height
  int pixels = 0;                     // of the blob; 0: nothing was measured
};

namespace detail {

inline const float* pixel(const float* pixels, int w, int x, int y) { return pixels + (y * w + x) * 3; }

inline double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

inline rgb border_median(const float* pixels, int h, int w) {
  std::array<std::vector<double>, 3> channels;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (x == 0 || y == 0 || x == w - 1 || y == h - 1)
        for (int c = 0; c < 3; ++c) channels[c].push_back(pixel(pixels, w, x, y)[c]);
  return {median(channels[0]), median(channels[1]), median(channels[2])};
}

inline double l1(const float* p, const rgb& c) {
  return std::abs(p[0] - c.r) + std::abs(p[1] - c.g) + std::abs(p[2] - c.b);
}

// The largest 8-connected set of `mask` pixels, as a mask.
inline std::vector<char> largest_blob(const std::vector<char>& mask, int h, int w) {
  std::vector<int> label(mask.size(), 0);
  int best_label = 0, best_size = 0, next = 0;
  std::vector<int> stack;
  for (int start = 0; start < h * w; ++start) {
    if (!mask[start] || label[start]) continue;
    label[start] = ++next;
    int size = 0;
    stack.assign(1, start);
    while (!stack.empty()) {
      int at = stack.back();
      stack.pop_back();
      ++size;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          int x = at % w + dx, y = at / w + dy;
          if (x < 0 || y < 0 || x >= w || y >= h) continue;
          int n = y * w + x;
          if (mask[n] && !label[n]) label[n] = next, stack.push_back(n);
        }
    }
    if (size > best_size) best_size = size, best_label = next;
  }
  std::vector<char> blob(mask.size(), 0);
  for (std::size_t i = 0; i < mask.size(); ++i) blob[i] = best_label != 0 && label[i] == best_label;
  return blob;
}

// Area and centroid height of a shape of radius 1, measured once on a fine grid: they turn a
// blob's area and centroid into a first guess of the radius and centre.
struct shape_moments {
  double area = 0, centroid_y = 0;
};

inline shape_moments moments_of(const std::string& kind) {
  static const auto table = [] {
    std::vector<std::pair<std::string, shape_moments>> out;
    const int n = 400;
    for (const auto& name : shape_names()) {
      double area = 0, sum_y = 0;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          double x = -1 + 2 * (j + 0.5) / n, y = -1 + 2 * (i + 0.5) / n;
          if (inside_shape(name, x, y, 1)) area += 1, sum_y += y;
        }
      out.push_back({name, {area * 4 / (n * n), sum_y / area}});
    }
    return out;
  }();
  for (const auto& [name, m] : table)
    if (name == kind) return m;
  return {};
}

// IoU of `blob` (of `blob_size` pixels) with a `kind` template centred at (cx, cy) pixels, of
// `radius` pixels, sampled at pixel centres. Only the template's bounding square is visited:
// every shape lies within `radius` of its centre.
inline double iou(const std::vector<char>& blob, int blob_size, int h, int w, const std::string& kind,
                  double cx, double cy, double radius) {
  int both = 0, in_template = 0;
  const int x0 = std::max(0, static_cast<int>(std::floor(cx - radius))),
            x1 = std::min(w - 1, static_cast<int>(std::ceil(cx + radius)));
  const int y0 = std::max(0, static_cast<int>(std::floor(cy - radius))),
            y1 = std::min(h - 1, static_cast<int>(std::ceil(cy + radius)));
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x)
      if (inside_shape(kind, x + 0.5 - cx, y + 0.5 - cy, radius)) ++in_template, both += blob[y * w + x];
  return static_cast<double>(both) / (blob_size + in_template - both);
}

// The best IoU of a `kind` template with `blob`: hill climbing over centre and radius, with
// steps halving from two pixels to a quarter.
inline double fit(const std::vector<char>& blob, int h, int w, const std::string& kind, double cx, double cy,
                  int area) {
  const auto m = moments_of(kind);
  double radius = std::sqrt(area / m.area);
  cy -= m.centroid_y * radius;
  double best = iou(blob, area, h, w, kind, cx, cy, radius);
  for (double step = 2; step >= 0.25; step /= 2) {
    for (bool improved = true; improved;) {
      improved = false;
      const std::array<std::array<double, 3>, 6> moves{
          {{step, 0, 0}, {-step, 0, 0}, {0, step, 0}, {0, -step, 0}, {0, 0, step}, {0, 0, -step}}};
      for (const auto& [mx, my, mr] : moves) {
        if (radius + mr <= 0.5) continue;
        double score = iou(blob, area, h, w, kind, cx + mx, cy + my, radius + mr);
        if (score > best) best = score, cx += mx, cy += my, radius += mr, improved = true;
      }
    }
  }
  return best;
}

}  // namespace detail

// Everything measured of one picture; see the file comment.
inline measured measure(const float* pixels, int h, int w) {
  measured out;
  const rgb background = detail::border_median(pixels, h, w);
  int border = 0, plain = 0;
  std::vector<char> mask(static_cast<std::size_t>(h) * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      bool far = detail::l1(detail::pixel(pixels, w, x, y), background) > foreground_threshold;
      mask[y * w + x] = far;
      if (x == 0 || y == 0 || x == w - 1 || y == h - 1) ++border, plain += !far;
    }
  // A shape may cross one edge (a large one at the side does), never most of the border.
  if (plain < 0.7 * border) return out;
  const auto blob = detail::largest_blob(mask, h, w);
  // Pixels of the blob by their distance from the background, farthest first: the inner ones,
  // of the shape's own colour, before the edge ones that blend it with the background.
  std::vector<std::pair<double, const float*>> by_distance;
  double sum_x = 0, sum_y = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (blob[y * w + x]) {
        const float* p = detail::pixel(pixels, w, x, y);
        by_distance.push_back({detail::l1(p, background), p});
        sum_x += x + 0.5, sum_y += y + 0.5;
      }
  const int count = static_cast<int>(by_distance.size());
  // The smallest shape (a small triangle) covers 1/18 of the picture; a tenth of that is a speck.
  if (count < std::max(4, h * w / 200)) return out;
  out.pixels = count;
  out.x = sum_x / count / w;
  out.y = sum_y / count / h;

  std::sort(by_distance.begin(), by_distance.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::array<std::vector<double>, 3> inner;
  for (int i = 0; i < (count + 1) / 2; ++i)
    for (int c = 0; c < 3; ++c) inner[c].push_back(by_distance[i].second[c]);
  const rgb colour{detail::median(inner[0]), detail::median(inner[1]), detail::median(inner[2])};
  out.colour_distance = 1e9;
  for (const auto& [name, value] : palette()) {
    double d = std::hypot(colour.r - value.r, colour.g - value.g, colour.b - value.b);
    if (d < out.colour_distance) out.colour_distance = d, out.colour = name;
  }
  if (out.colour_distance > max_colour_distance) out.colour.clear();

  for (const auto& kind : shape_names()) {
    double score = detail::fit(blob, h, w, kind, sum_x / count, sum_y / count, count);
    if (score > out.iou) {
      out.runner_up_iou = out.iou, out.iou = score, out.shape = kind;
    } else {
      out.runner_up_iou = std::max(out.runner_up_iou, score);
    }
  }
  if (out.iou < min_shape_iou) out.shape.clear();
  return out;
}

inline std::string dominant_colour(const float* pixels, int h, int w) { return measure(pixels, h, w).colour; }

inline std::string dominant_shape(const float* pixels, int h, int w) { return measure(pixels, h, w).shape; }

// The shape's centroid (x, y) as fractions of the width and height; (-1, -1) when none.
inline std::pair<double, double> centre(const float* pixels, int h, int w) {
  auto m = measure(pixels, h, w);
  return m.pixels == 0 ? std::pair{-1.0, -1.0} : std::pair{m.x, m.y};
}

// Which way the shape of a clip of `n` frames moves, from its centroid in the first and the last
// frame, as shapes.py words it: "to the right", "to the left", "up" or "down" (the larger axis);
// "" when either frame has no shape or it moves less than a tenth of the side (shapes.py's clips
// move 0.6 of it).
inline std::string motion_direction(const float* frames, int n, int h, int w) {
  auto first = measure(frames, h, w);
  auto last = measure(frames + static_cast<std::size_t>(n - 1) * h * w * 3, h, w);
  if (first.pixels == 0 || last.pixels == 0) return "";
  double dx = last.x - first.x, dy = last.y - first.y;
  if (std::max(std::abs(dx), std::abs(dy)) < 0.1) return "";
  if (std::abs(dx) >= std::abs(dy)) return dx > 0 ? "to the right" : "to the left";
  return dy > 0 ? "down" : "up";
}

}  // namespace loom::test
