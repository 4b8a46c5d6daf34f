"""A minimal safetensors writer and reader for the reference scripts: there is no `safetensors`
package beside the system's PyTorch, and the format is small. The layout is the one loom's
reader checks (stages/model/safetensors.cpp): an 8-byte little-endian header length, a JSON
header {name: {"dtype", "shape", "data_offsets": [begin, end]}}, then the tensors packed in
header order with no gaps. bf16 bytes are torch's own bf16 values (round to nearest even).

    write(path, {"embed.weight": torch.zeros(97, 32), "golden.input.tokens": torch.arange(7)})
    tensors = read(path)
"""
import json
import struct
import sys

import numpy as np
import torch

DTYPE_NAMES = {
    torch.float32: "F32",
    torch.bfloat16: "BF16",
    torch.float16: "F16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.uint8: "U8",
}
NUMPY_TYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
               "U8": np.uint8, "BF16": np.int16}

if sys.byteorder != "little":
    raise RuntimeError("safetensors_file: tensors are written in the machine's byte order, and "
                       "safetensors is little-endian; run this on a little-endian machine")


def tensor_bytes(tensor):
    tensor = tensor.detach().contiguous().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().tobytes()
    return tensor.numpy().tobytes()


def write(path, tensors):
    """Writes `tensors` (name → tensor), widest elements first so that every tensor starts at a
    multiple of its element size (the header is padded to 8 bytes) and loom maps it in place."""
    ordered = sorted(tensors.items(), key=lambda item: -item[1].element_size())
    header, blobs, offset = {}, [], 0
    for name, tensor in ordered:
        if tensor.dtype not in DTYPE_NAMES:
            raise ValueError(f"safetensors_file: tensor {name!r} is {tensor.dtype}; loom reads "
                             f"{', '.join(DTYPE_NAMES.values())}")
        blob = tensor_bytes(tensor)
        header[name] = {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read(path):
    """name → tensor, in header order."""
    with open(path, "rb") as source:
        data = source.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header.pop("__metadata__", None)
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[8 + length + begin:8 + length + end],
                              dtype=NUMPY_TYPES[entry["dtype"]]).reshape(entry["shape"])
        tensor = torch.from_numpy(array.copy())
        tensors[name] = tensor.view(torch.bfloat16) if entry["dtype"] == "BF16" else tensor
    return tensors
