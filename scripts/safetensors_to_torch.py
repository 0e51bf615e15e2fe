#!/usr/bin/python3
"""Converts a safetensors file (e.g. one glassbox wrote) to a PyTorch state_dict (.pt).

    scripts/safetensors_to_torch.py IN.safetensors OUT.pt

OUT.pt holds an OrderedDict {name: tensor} in the file's (sorted) order, ready for
model.load_state_dict(torch.load(OUT.pt)). The "__metadata__" strings are printed, not saved.
Only torch and the Python standard library are used (no safetensors package). The whole
header is validated before any tensor is built, so a malformed file is a clear error, never a
garbage tensor: the header length fits the file, the header is a JSON object, every entry has
a known dtype, a shape of non-negative integers and offsets whose size matches the shape, and
the entries tile the data section exactly (no gaps, no overlaps, nothing after).

Exit status: 0 written, 1 the input is unreadable or malformed, 2 bad command line.
Importable: read_safetensors(path) -> (OrderedDict of tensors, metadata dict).
"""
import argparse
import collections
import json
import os
import struct
import sys

import torch

# safetensors code -> (torch dtype, bytes per element). Codes torch lacks (U16, U32, U64,
# F8_*) are refused with the list below in the message.
DTYPES = {
    "F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2), "I64": (torch.int64, 8), "I32": (torch.int32, 4),
    "I16": (torch.int16, 2), "I8": (torch.int8, 1), "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}


class FormatError(Exception):
    pass


def _no_duplicates(pairs):
    """JSON object hook: a repeated name would silently drop a tensor."""
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise FormatError("header names '%s' twice" % key)
        obj[key] = value
    return obj


def _is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def parse_header(data, source):
    """Returns ([(name, code, shape, begin, end)], metadata, data_start), all checked."""
    if len(data) < 8:
        raise FormatError("%s: %d bytes, shorter than the 8-byte header length" % (source,
                                                                                    len(data)))
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise FormatError("%s: header length %d exceeds the %d bytes after it"
                          % (source, n, len(data) - 8))
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError("%s: header is not valid JSON: %s" % (source, e))
    if not isinstance(header, dict):
        raise FormatError("%s: header is not a JSON object" % source)
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError("%s: __metadata__ must map names to strings" % source)
    data_len = len(data) - 8 - n
    entries = []
    for name, info in header.items():
        where = "%s: tensor '%s'" % (source, name)
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise FormatError("%s: needs exactly dtype, shape and data_offsets" % where)
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in DTYPES:
            raise FormatError("%s: dtype %r is not supported (supported: %s)"
                              % (where, code, ", ".join(sorted(DTYPES))))
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            raise FormatError("%s: shape %r is not a list of non-negative integers"
                              % (where, shape))
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_uint(o) for o in offsets) or offsets[0] > offsets[1]
                or offsets[1] > data_len):
            raise FormatError("%s: data_offsets %r are not [begin, end] within the %d data "
                              "bytes" % (where, offsets, data_len))
        numel = 1
        for d in shape:
            numel *= d
        if offsets[1] - offsets[0] != numel * DTYPES[code][1]:
            raise FormatError("%s: %d bytes for shape %s of %s (needs %d)"
                              % (where, offsets[1] - offsets[0], shape, code,
                                 numel * DTYPES[code][1]))
        entries.append((name, code, shape, offsets[0], offsets[1]))
    # The format requires the tensors to cover the data section exactly, in some order.
    pos = 0
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != pos:
            raise FormatError("%s: tensor '%s' starts at %d, expected %d (%s)"
                              % (source, name, begin, pos,
                                 "overlap" if begin < pos else "gap"))
        pos = end
    if pos != data_len:
        raise FormatError("%s: %d data bytes but the tensors cover %d" % (source, data_len, pos))
    return entries, metadata, 8 + n


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    entries, metadata, start = parse_header(data, path)
    tensors = collections.OrderedDict()
    for name, code, shape, begin, end in sorted(entries):
        dtype = DTYPES[code][0]
        if begin == end:  # frombuffer refuses an empty buffer
            tensors[name] = torch.empty(shape, dtype=dtype)
            continue
        # A fresh bytearray: writable (frombuffer warns on bytes) and freshly aligned (offsets
        # of a tensor after a U8 one need not be); clone() gives the tensor its own storage.
        raw = bytearray(data[start + begin:start + end])
        tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(shape).clone()
    return tensors, metadata


def main(argv):
    parser = argparse.ArgumentParser(
        description="Convert a .safetensors file to a PyTorch .pt state_dict (OrderedDict).")
    parser.add_argument("input", metavar="IN.safetensors")
    parser.add_argument("output", metavar="OUT.pt")
    args = parser.parse_args(argv)  # exits 2 on a bad command line
    if sys.byteorder != "little":
        print("error: safetensors data is little-endian; this script needs a little-endian host",
              file=sys.stderr)
        return 1
    try:
        tensors, metadata = read_safetensors(args.input)
        tmp = args.output + ".tmp"  # write then rename: a failed run never leaves a torn OUT
        try:
            torch.save(tensors, tmp)
            os.replace(tmp, args.output)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except (FormatError, OSError, RuntimeError) as e:  # RuntimeError: torch.save cannot write
        print("error: %s" % e, file=sys.stderr)
        return 1
    for key in sorted(metadata):
        print("metadata %s = %s" % (key, metadata[key]))
    print("wrote %d tensors to %s" % (len(tensors), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
