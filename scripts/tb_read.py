#!/usr/bin/python3
"""An independent reader of TensorBoard event files, to check the ones flatclr writes.

It shares no code with flatclr's encoder: records are unframed and CRC-checked here with the `crc32c` package
(Debian: python3-crc32c), and each Event is decoded by Google's protobuf runtime (Debian: python3-protobuf)
against a schema built from the public TensorBoard definitions (tensorflow/core/util/event.proto,
tensorflow/core/framework/summary.proto), restating the fields a scalar log uses with their public numbers
and types.

usage: tb_read.py EVENT_FILE [EVENT_FILE...]   ->  JSON on stdout:
  {"files": [{"path", "records", "file_version", "truncated_tail", "session_starts": [step...],
              "scalars": [{"step", "wall_time", "tag", "value"}...]}]}
Exit 1 (with a message) on a bad CRC, a bad length or an undecodable record; a cut-off last record is allowed
(it is what a crash mid-write leaves, and TensorBoard skips it too) and reported as truncated_tail.
"""
import json
import struct
import sys

import crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def build_event_class():
    fdp = descriptor_pb2.FileDescriptorProto(name="flatclr_check_event.proto", package="tensorboard",
                                             syntax="proto3")

    def message(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
        return m

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("SummaryValue", [("tag", 1, F.TYPE_STRING, opt, None),
                             ("simple_value", 2, F.TYPE_FLOAT, opt, None)])
    message("Summary", [("value", 1, F.TYPE_MESSAGE, rep, ".tensorboard.SummaryValue")])
    message("SessionLog", [("status", 1, F.TYPE_INT32, opt, None),  # enum SessionStatus (START = 1)
                           ("checkpoint_path", 2, F.TYPE_STRING, opt, None),
                           ("msg", 3, F.TYPE_STRING, opt, None)])
    message("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None),
                      ("step", 2, F.TYPE_INT64, opt, None),
                      ("file_version", 3, F.TYPE_STRING, opt, None),
                      ("summary", 5, F.TYPE_MESSAGE, opt, ".tensorboard.Summary"),
                      ("session_log", 6, F.TYPE_MESSAGE, opt, ".tensorboard.SessionLog")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("tensorboard.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def masked(data):
    c = crc32c.crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read(path, Event):
    blob = open(path, "rb").read()
    out = {"path": path, "records": 0, "file_version": None, "truncated_tail": False, "session_starts": [],
           "scalars": []}
    pos = 0
    while pos < len(blob):
        if len(blob) - pos < 12:
            out["truncated_tail"] = True
            break
        header = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        if len_crc != masked(header):
            raise SystemExit(f"{path}: record {out['records']} at byte {pos}: bad length CRC")
        if len(blob) - pos < 12 + length + 4:
            out["truncated_tail"] = True
            break
        data = blob[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", blob[pos + 12 + length:pos + 16 + length])
        if data_crc != masked(data):
            raise SystemExit(f"{path}: record {out['records']} at byte {pos}: bad data CRC")
        ev = Event()
        ev.ParseFromString(data)
        if ev.file_version:
            out["file_version"] = ev.file_version
        if ev.HasField("session_log") and ev.session_log.status == 1:
            out["session_starts"].append(ev.step)
        for v in ev.summary.value:
            out["scalars"].append({"step": ev.step, "wall_time": ev.wall_time, "tag": v.tag,
                                   "value": v.simple_value})
        out["records"] += 1
        pos += 16 + length
    return out


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    Event = build_event_class()
    if crc32c.crc32c(b"123456789") != 0xE3069283:
        raise SystemExit("the crc32c package fails its known-answer test")
    json.dump({"files": [read(p, Event) for p in sys.argv[1:]]}, sys.stdout)


if __name__ == "__main__":
    main()
