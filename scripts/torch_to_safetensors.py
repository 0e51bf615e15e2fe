#!/usr/bin/python3
"""Converts a PyTorch checkpoint (.pt) to a safetensors file that glassbox can load.

    scripts/torch_to_safetensors.py IN.pt OUT.safetensors

IN.pt may hold a state_dict, a dict with a "state_dict" or "model" entry (the usual training
checkpoints), or a whole nn.Module (its class must be importable, as for any torch.load).
Only torch and the Python standard library are used (no safetensors package): the file is
written by hand as the format says -- an 8-byte little-endian header length, a JSON header
{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {"format": "pt"}} padded with
spaces to a multiple of 8 bytes, then each tensor's raw little-endian bytes, in sorted-name
order. glassbox itself reads F32, F64, I64, U8 and BOOL; the other dtypes safetensors defines
(F16, BF16, I32, I16, I8) are written too, for other readers.

Exit status: 0 written, 1 the input cannot be converted (unreadable, not a state_dict, an
unsupported dtype), 2 bad command line.
"""
import argparse
import collections
import ctypes
import json
import os
import struct
import sys

import torch

# torch dtype -> safetensors code. Complex and quantized dtypes have no safetensors code.
DTYPES = collections.OrderedDict([
    (torch.float64, "F64"), (torch.float32, "F32"), (torch.float16, "F16"),
    (torch.bfloat16, "BF16"), (torch.int64, "I64"), (torch.int32, "I32"),
    (torch.int16, "I16"), (torch.int8, "I8"), (torch.uint8, "U8"), (torch.bool, "BOOL"),
])


class ConversionError(Exception):
    pass


def extract_state_dict(obj):
    """The {name: tensor} inside whatever torch.load returned."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        # Training checkpoints wrap the weights next to optimizer state, epoch, ...
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
                return extract_state_dict(obj[key])
        return obj
    raise ConversionError("expected a state_dict, a checkpoint dict with a 'state_dict' or "
                          "'model' entry, or an nn.Module; got %s" % type(obj).__name__)


def check_entry(name, t):
    """Refuses what safetensors cannot hold, before anything is written."""
    if not isinstance(name, str):
        raise ConversionError("key %r is not a string" % (name,))
    if name == "__metadata__":
        raise ConversionError("'__metadata__' is reserved by safetensors")
    if not isinstance(t, torch.Tensor):
        raise ConversionError("entry '%s' is a %s, not a tensor" % (name, type(t).__name__))
    if t.layout != torch.strided or t.is_quantized:
        raise ConversionError("entry '%s': only dense tensors can be saved (layout %s)"
                              % (name, t.layout))
    if t.dtype not in DTYPES:
        raise ConversionError("entry '%s' has dtype %s, which safetensors cannot hold "
                              "(supported: %s)" % (name, t.dtype,
                                                   ", ".join(str(d) for d in DTYPES)))


def tensor_bytes(t):
    """The tensor's raw bytes, little-endian (checked in main), row-major."""
    t = t.detach().cpu().contiguous()
    # ctypes copies the contiguous buffer in one go; going through tolist()/struct would be
    # slow for real models, and numpy is not required.
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""


def write_safetensors(path, tensors, metadata):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):  # sorted: the same dict always gives the same bytes
        raw = tensor_bytes(tensors[name])
        header[name] = {"dtype": DTYPES[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata
    hdr = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hdr += b" " * (-len(hdr) % 8)  # pad so the data section starts 8-byte aligned
    tmp = path + ".tmp"  # write then rename: a failed run never leaves a torn OUT
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hdr)))
            f.write(hdr)
            for c in chunks:
                f.write(c)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv):
    parser = argparse.ArgumentParser(
        description="Convert a PyTorch .pt state_dict/checkpoint to .safetensors.")
    parser.add_argument("input", metavar="IN.pt")
    parser.add_argument("output", metavar="OUT.safetensors")
    args = parser.parse_args(argv)  # exits 2 on a bad command line
    if sys.byteorder != "little":
        print("error: this script writes the host's bytes and needs a little-endian host",
              file=sys.stderr)
        return 1
    try:
        try:
            obj = torch.load(args.input, map_location="cpu")
        except Exception as e:  # pickle, zip and file errors all mean "cannot read IN"
            raise ConversionError("cannot load %s: %s" % (args.input, e))
        tensors = extract_state_dict(obj)
        for name in tensors:
            check_entry(name, tensors[name])
        write_safetensors(args.output, tensors, {"format": "pt"})
    except (ConversionError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    print("wrote %d tensors to %s" % (len(tensors), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
