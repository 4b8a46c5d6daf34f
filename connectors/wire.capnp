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
