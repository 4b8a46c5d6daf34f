# What crosses the wire between loom nodes, and between loom and external clients (zmq_source,
# zmq_sink): one Cap'n Proto `Frame` per ZeroMQ message, as its first frame, unpacked, in the
# standard flat encoding (segment table, then segments). A `packet` frame is followed, in the same
# multipart message, by one ZeroMQ frame per tensor holding that tensor's bytes and nothing else —
# payloads stay out of the header so that neither side copies them (see connectors/wire_codec.hpp
# and docs/connectors.md, "Wire format"). Every other kind of frame travels alone.
#
# Compatibility: fields may be added at the end of a struct and kinds at the end of the union
# without changing `Hello.protocolVersion`; anything else (renumbering, changing a type or the
# meaning of a field) raises it, and nodes with different protocol versions refuse each other.

@0x8803d4b8ef547fa5;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("loom::wire_schema");

struct Frame {
  union {
    hello @0 :Hello;          # first frame each side sends on a new connection
    packet @1 :PacketHeader;  # one packet of an edge; its tensors' bytes follow as frames
    credit @2 :Credit;        # receiver -> sender: room for more packets on an edge
    heartbeat @3 :Heartbeat;  # liveness while an edge is idle
    bye @4 :Bye;              # orderly goodbye; the connection closes after it
    error @5 :Error;          # the sender refuses or aborts; the connection closes after it
  }
}

struct Hello {
  loomVersion @0 :Text;        # the sender's loom release, e.g. "0.1.0"; for messages only
  protocolVersion @1 :UInt32;  # the wire protocol the sender speaks (wire_protocol_version);
                               # both sides must speak the same one
  graphHash @2 :Text;          # digest of the deployed graph, as text; both sides must run the
                               # same graph ("" from an external client that runs none)
  nodeName @3 :Text;           # the sender's node name from the deployment, e.g. "gpu-box-1"
  bootId @4 :Text;             # the sender's /proc/sys/kernel/random/boot_id: equal boot ids
                               # mean one host, whose steady clocks agree ("" when unknown)
}

# Element types; the numbers are the wire's, not loom's enum values. `unspecified` (the default)
# is never valid: a header that forgets the dtype is refused instead of read as bytes.
enum DType {
  unspecified @0;
  u8 @1;
  i32 @2;
  i64 @3;
  f16 @4;
  bf16 @5;
  f32 @6;
}

struct TensorHeader {
  name @0 :Text;             # the tensor's name in the packet, e.g. "image"; unique per packet
  dtype @1 :DType;           # element type
  shape @2 :List(UInt64);    # dimensions, outermost first; empty for a scalar; a zero anywhere
                             # means no elements
  byteSize @3 :UInt64;       # product(shape) * size of dtype: exactly the size of this tensor's
                             # payload frame (dense, row-major, native little-endian)
}

struct MetadataEntry {
  key @0 :Text;    # e.g. "source_file"
  value @1 :Text;  # free text
}

struct PacketHeader {
  edgeId @0 :UInt32;                  # the edge this packet travels on, as numbered by the
                                      # deployment; credits name the same numbers
  streamId @1 :UInt64;                # the packet's stream (packet::stream_id)
  sequence @2 :UInt64;                # position in its stream, assigned by the source
  createdNs @3 :Int64;                # steady-clock time the source made it, in the source
                                      # process's clock (latency is only measured on its host)
  timestampUs @4 :Int64;              # media time of the content, in microseconds
  metadata @5 :List(MetadataEntry);   # small key/value annotations, in order
  tensors @6 :List(TensorHeader);     # the tensors, in the order their payload frames follow
}

struct Credit {
  edgeId @0 :UInt32;  # the edge the credit is for
  count @1 :UInt32;   # how many more packets the sender may send on it (added to what it has)
}

struct Heartbeat {
  sentNs @0 :Int64;  # the sender's steady clock when it sent this; echoed values give round trips
}

struct Bye {
  reason @0 :Text;  # why the sender leaves, e.g. "graph finished"; for logs
}

struct Error {
  message @0 :Text;  # what went wrong and how to fix it, for the receiver's log and exit status
}

# --- The control plane: the coordinator (`loom run` on a graph with [nodes]) and each node
# (`loom node --listen`) talk over one DEALER/ROUTER connection, one `Control` per message, no
# payload frames. The coordinator opens with `hello`, the node answers `hello` or `error`; then
# deploy -> ready, start, and finished when the node's part has run. Both sides send `heartbeat`
# every half second; a side silent for longer than the deployment's bound is taken for dead
# (docs/connectors.md, "Deployment").

struct Control {
  union {
    hello @0 :Hello;          # coordinator -> node, then node -> coordinator
    deploy @1 :Deploy;        # coordinator -> node: load this graph, run your part of it
    ready @2 :Void;           # node -> coordinator: the part loaded, every stage opened
    start @3 :Void;           # coordinator -> node: start the sources (every node at once)
    stop @4 :Stop;            # coordinator -> node: end the run
    heartbeat @5 :Heartbeat;  # both ways
    finished @6 :Finished;    # node -> coordinator: the part has run; its stats
    error @7 :Error;          # either way: the deployment cannot go on
  }
}

struct Deploy {
  node @0 :Text;                    # the name the graph gives the receiving node
  graphText @1 :Text;               # the graph file's text; its SHA-256 is the hellos' graphHash
  graphPath @2 :Text;               # where the coordinator read it: relative paths in it resolve
                                    # against this path's folder on the node as well
  overrides @3 :List(Text);         # --set stage.param=value, in order
  publicKeys @4 :List(NodeKey);     # the nodes' CURVE public keys, to connect under CURVE
}

struct NodeKey {
  node @0 :Text;
  publicKey @1 :Text;  # Z85, 40 characters
}

struct Stop {
  abort @0 :Bool;  # false: sources end and the pipeline drains; true: stop at once
}

enum Outcome {
  completed @0;
  interrupted @1;
  failed @2;
}

struct Finished {
  outcome @0 :Outcome;
  failures @1 :List(Text);  # why the part failed, one line each
  stats @2 :RunStats;       # the part's `--stats json` figures
}

struct RunStats {
  seconds @0 :Float64;
  stages @1 :List(StageStats);
  sinks @2 :List(SinkStats);
  edges @3 :List(EdgeStats);
  bytesCopied @4 :UInt64;
  peakRssBytes @5 :UInt64;
}

struct StageStats {
  name @0 :Text;
  type @1 :Text;
  device @2 :Text;
  replicas @3 :Int32;
  packetsIn @4 :UInt64;
  packetsOut @5 :UInt64;
  dropped @6 :UInt64;
  errors @7 :UInt64;
  restarts @8 :UInt64;
  busySeconds @9 :Float64;
  cpus @10 :List(Int32);
  batches @11 :Int64;        # -1: the stage does not batch
  batchMean @12 :Float64;
  counters @13 :List(Counter);
}

struct Counter {
  name @0 :Text;
  values @1 :List(UInt64);
}

struct SinkStats {
  name @0 :Text;
  packets @1 :UInt64;
  bytes @2 :UInt64;
  latencyP50Us @3 :Float64;
  latencyP99Us @4 :Float64;
}

struct EdgeStats {
  name @0 :Text;
  sent @1 :UInt64;
  dropped @2 :UInt64;
  bytesTransferred @3 :UInt64;
  policy @4 :Text;
  capacity @5 :UInt64;
}
