/* The C boundary between loom and a device plugin: a shared library that adds a kind of device
 * (an accelerator's runtime, or devices/emu, the emulated one). C, so that a vendor's backend
 * builds with any compiler against nothing of loom but this header; versioned, so that loom never
 * calls into a library built for another layout. docs/devices.md describes each entry at length
 * and maps the Ascend and Cambricon runtimes onto them.
 *
 * A plugin exports exactly two symbols:
 *
 *   const uint32_t loom_device_plugin_abi_version;
 *       Data, not a function: LOOM_DEVICE_PLUGIN_ABI_VERSION as the plugin was built. loom reads
 *       it before it calls anything in the library and refuses the library unless it is equal.
 *   const loom_device_plugin* loom_device_plugin_describe(void);
 *       The plugin's table (below), static for the life of the library. Called once, at load.
 *
 * Conventions for every entry:
 *   - Nothing crosses the boundary as an exception. An entry that can fail returns a
 *     loom_device_status and, unless LOOM_DEVICE_OK, writes a message into `error`: at most
 *     `error_size` bytes, terminator included (loom passes 512). loom adds the device's name.
 *   - Sizes are bytes; pointers to device memory are the `void*` that `alloc` handed out (or
 *     points inside such a block); `host` pointers are ordinary host memory.
 *   - Entries on a device may be called from several threads at once (a stage on its executor
 *     thread while another thread drops the last view of a buffer, which calls `free`), so a
 *     plugin keeps its own state thread-safe. loom never calls `close` while a buffer or an
 *     event of that device is still alive, and calls nothing on a device after `close`.
 *   - The version below changes whenever anything here changes layout or meaning. */
#ifndef LOOM_DEVICE_PLUGIN_ABI_H
#define LOOM_DEVICE_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#define LOOM_DEVICE_PLUGIN_ABI_VERSION 1u

#ifdef __cplusplus
extern "C" {
#endif

/* One opened device and one point in a device's stream, as the plugin represents them. */
typedef struct loom_device loom_device;
typedef struct loom_device_event loom_device_event;

typedef enum loom_device_status {
  LOOM_DEVICE_OK = 0,
  LOOM_DEVICE_ERROR = 1,         /* failed; `error` says why */
  LOOM_DEVICE_OUT_OF_MEMORY = 2, /* `alloc` only: not enough free memory for the request */
  LOOM_DEVICE_UNSUPPORTED = 3    /* `copy_from_peer`: no peer access to that memory space;
                                    `gemm`: a dtype the device cannot multiply */
} loom_device_status;

/* Element types, numbered as loom's dtype; a set of them is a bitmask of (1u << type). */
typedef enum loom_device_dtype {
  LOOM_DEVICE_U8 = 0,
  LOOM_DEVICE_I32 = 1,
  LOOM_DEVICE_I64 = 2,
  LOOM_DEVICE_F16 = 3,
  LOOM_DEVICE_BF16 = 4,
  LOOM_DEVICE_F32 = 5
} loom_device_dtype;

/* What a device can do, as data for the planner and `loom devices` (loom's device_caps). */
typedef struct loom_device_caps {
  char memory_space[64];   /* the tag on tensors in its memory, unique per device: "emu:npu0" */
  uint64_t memory_total;   /* bytes its stages may allocate; 0: unknown */
  int32_t async;           /* non-zero: copies and math are queued (`synchronize` waits) */
  char peers[256];         /* memory spaces it copies from directly, comma-separated; "" none */
  uint32_t compute_dtypes; /* dtypes its `gemm` multiplies natively, (1u << loom_device_dtype) */
  double copy_bytes_per_s; /* host <-> device bandwidth; 0: no copy needed */
  double flops;            /* f32 matrix-product throughput, FLOP/s */
  double reduced_flops;    /* bf16/f16 throughput, FLOP/s; 0: same as `flops` */
  int32_t numa_node;       /* NUMA node of the host memory nearest to it; -1: not bound */
} loom_device_caps;

typedef enum loom_device_param_type {
  LOOM_DEVICE_PARAM_BOOLEAN = 0, /* spelled "true" / "false" */
  LOOM_DEVICE_PARAM_INTEGER = 1, /* decimal, "42" */
  LOOM_DEVICE_PARAM_NUMBER = 2,  /* decimal or exponent, "2.5", "1e12" */
  LOOM_DEVICE_PARAM_STRING = 3   /* as written, without quotes */
} loom_device_param_type;

/* One key of a `[devices.NAME]` table. loom checks a graph file against these before anything
 * opens, as it checks stage parameters. Values are strings in the spellings above. */
typedef struct loom_device_param {
  const char* key;
  loom_device_param_type type;
  const char* default_value;  /* NULL: the graph file must set it */
  const char* doc;            /* one line for `loom devices` and error messages */
  const char* min;            /* integer and number: the smallest value allowed; NULL: none */
  const char* max;            /* integer and number: the largest value allowed; NULL: none */
  const char* const* choices; /* string: the allowed spellings, NULL-terminated; NULL: any */
} loom_device_param;

/* A declared device's parameters: every declared key once, in declaration order, with the graph
 * file's value or the default. */
typedef struct loom_device_param_value {
  const char* key;
  const char* value;
} loom_device_param_value;

/* C[m x n] = alpha * A[m x k] * B[k x n] + beta * C, row-major; lda, ldb, ldc are elements
 * between rows. A and B are both `type` (f32, bf16, f16, products accumulated in f32); C is f32
 * or `type` (`out_type`). All three point into the device's memory. */
typedef struct loom_device_gemm {
  loom_device_dtype type;
  loom_device_dtype out_type;
  int64_t m, n, k;
  const void* a;
  int64_t lda;
  const void* b;
  int64_t ldb;
  void* c;
  int64_t ldc;
  float alpha;
  float beta;
} loom_device_gemm;

/* `detect` reports each device it finds through this callback; `context` is loom's. */
typedef void (*loom_device_found_fn)(void* context, const char* name, const char* description,
                                     const loom_device_caps* caps);

typedef struct loom_device_plugin {
  /* The kind a graph file names (`kind = "emu"`): lower case, digits, '_'. */
  const char* kind;
  /* One line for `loom devices`. */
  const char* summary;
  /* The keys of its `[devices.NAME]` table, besides `kind`, `cores`, `cost_per_hour` and
   * `watts`, which every kind has and loom handles. */
  const loom_device_param* params;
  size_t param_count;

  /* ---- Required: loom refuses a table where any of these is NULL. ---- */

  /* What a device declared as `name` with these values can do, without opening it: pure, and
   * needs no hardware (`loom check` and `loom plan` call it on any machine). Also checks the
   * values beyond their types (a size that does not parse, ...). */
  loom_device_status (*describe)(const char* name, const loom_device_param_value* values,
                                 size_t value_count, loom_device_caps* caps, char* error,
                                 size_t error_size);
  /* Opens the device: a handle, or NULL with `error` saying why this machine cannot. */
  loom_device* (*open)(const char* name, const loom_device_param_value* values, size_t value_count,
                       char* error, size_t error_size);
  /* Releases everything the handle holds. Called once, after the last buffer and event of the
   * device are gone. */
  void (*close)(loom_device* device);
  /* Bytes `alloc` can still hand out. */
  uint64_t (*memory_free)(loom_device* device);
  /* `bytes` of device memory, 64-byte aligned, into `*memory`. LOOM_DEVICE_OUT_OF_MEMORY when
   * the device has too little free (loom then reports the bytes wanted and `memory_free`). */
  loom_device_status (*alloc)(loom_device* device, uint64_t bytes, void** memory, char* error,
                              size_t error_size);
  /* Hands back a block `alloc` gave; from any thread, never fails. */
  void (*free)(loom_device* device, void* memory);
  /* Copies queued on the calling thread's stream: complete on return on a device that is not
   * `async`, after `synchronize` on one that is. `host` may be ordinary pageable memory (a
   * tensor's); a runtime that queues copies only from page-locked memory copies pageable memory
   * synchronously or stages it itself. */
  loom_device_status (*copy_from_host)(loom_device* device, const void* host, void* to,
                                       uint64_t bytes, char* error, size_t error_size);
  loom_device_status (*copy_to_host)(loom_device* device, const void* from, void* host,
                                     uint64_t bytes, char* error, size_t error_size);
  loom_device_status (*copy_within)(loom_device* device, const void* from, void* to, uint64_t bytes,
                                    char* error, size_t error_size);

  /* ---- Optional: NULL where the device has no such thing; loom says what it does then. ---- */

  /* The opened device's caps where it knows more than `describe` (the memory it really has).
   * NULL: `describe`'s. */
  loom_device_status (*query_caps)(loom_device* device, loom_device_caps* caps, char* error,
                                   size_t error_size);
  /* Page-locked host memory, 64-byte aligned, that the device copies to and from at full speed;
   * loom stages transfers between two devices without peer access through it. Both or neither;
   * `free_host` never fails. NULL: ordinary host memory. */
  loom_device_status (*alloc_host)(loom_device* device, uint64_t bytes, void** memory, char* error,
                                   size_t error_size);
  void (*free_host)(loom_device* device, void* memory);
  /* Makes the calling thread one of the device's executors: select the device, give the thread
   * its stream. Called once per thread before that thread uses the device, after loom pinned it
   * to the device's `cores`. NULL: nothing to do. */
  loom_device_status (*bind_thread)(loom_device* device, char* error, size_t error_size);
  /* A direct copy from another device's memory, named by its memory space. LOOM_DEVICE_UNSUPPORTED
   * when this device has no peer access to it; loom then stages the bytes through host memory.
   * NULL: never any peer access. */
  loom_device_status (*copy_from_peer)(loom_device* device, const char* source_memory_space,
                                       const void* from, void* to, uint64_t bytes, char* error,
                                       size_t error_size);
  /* Waits until the work the calling thread queued on the device is done. NULL: there is never
   * any (the device is not `async`). */
  loom_device_status (*synchronize)(loom_device* device, char* error, size_t error_size);
  /* Events, all four or none. `event_record` marks the work the calling thread queued so far;
   * `event_wait` blocks until it is done; `event_done` returns 1 when it is, 0 when not, -1 on
   * error; `event_destroy` releases it. NULL: loom synchronizes instead of recording. */
  loom_device_event* (*event_record)(loom_device* device, char* error, size_t error_size);
  loom_device_status (*event_wait)(loom_device* device, loom_device_event* event, char* error,
                                   size_t error_size);
  int (*event_done)(loom_device* device, loom_device_event* event);
  void (*event_destroy)(loom_device* device, loom_device_event* event);
  /* A matrix product on the device, queued like a copy. LOOM_DEVICE_UNSUPPORTED for dtypes it
   * cannot multiply. NULL: stages that need one cannot run on it. */
  loom_device_status (*gemm)(loom_device* device, const loom_device_gemm* args, char* error,
                             size_t error_size);
  /* Reports each device of this kind the machine has through `found`; a machine without the
   * vendor's runtime or hardware reports none and returns LOOM_DEVICE_OK. NULL: none. */
  loom_device_status (*detect)(loom_device_found_fn found, void* context, char* error,
                               size_t error_size);
} loom_device_plugin;

typedef const loom_device_plugin* (*loom_device_plugin_describe_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
