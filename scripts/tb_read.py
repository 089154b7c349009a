"""Reads TensorBoard event files with TensorBoard's own reader, to check the ones flatclr writes.

Nothing here decodes bytes by hand: records come from the record reader that TensorBoard itself uses without
TensorFlow (the stub record reader of tensorboard.compat: length and data CRC-32C checks), events are parsed and
migrated by tensorboard.backend.event_processing.event_file_loader.EventFileLoader (the loader behind the
TensorBoard UI: a simple_value becomes a scalars-plugin tensor on the way), and, per folder,
EventAccumulator gives what TensorBoard's scalar dashboard shows (after its purge of steps that a restarted run
wrote again, signalled by a SessionLog START).

Run with the virtual environment's Python (scripts/setup.sh --test installs tensorboard there):
usage: tb_read.py EVENT_FILE [EVENT_FILE...]   ->  JSON on stdout:
  {"files": [{"path", "records", "file_version", "truncated_tail", "session_starts": [step...],
              "scalars": [{"step", "wall_time", "tag", "value"}...]}],
   "dashboard": {folder: {tag: [[step, value]...]}}}
Exit 1 (with a message) when a record fails its CRC check or an event does not parse; a cut-off last record is
allowed (it is what a crash mid-write leaves, and TensorBoard stops there too) and reported as truncated_tail.
"""
import json
import logging
import os
import sys

from tensorboard.backend.event_processing import event_accumulator, event_file_loader
from tensorboard.compat import tf
from tensorboard.util import tensor_util

logging.getLogger("tensorboard").setLevel(logging.ERROR)


def check_records(path):
    """Counts the records with TensorBoard's record reader; tells a cut-off tail from corruption."""
    records, truncated = 0, False
    # The iterator the loader itself reads with (the TensorFlow-free stub's record reader here).
    iterator = event_file_loader._make_tf_record_iterator(path)
    while True:
        try:
            next(iterator)
        except StopIteration:
            break
        except tf.errors.DataLossError as e:
            if "crc32" in str(e):
                raise SystemExit(f"{path}: record {records}: {e}")
            truncated = True
            break
        records += 1
    return records, truncated


def read(path):
    records, truncated = check_records(path)
    out = {"path": path, "records": records, "file_version": None, "truncated_tail": truncated,
           "session_starts": [], "scalars": []}
    for ev in event_file_loader.EventFileLoader(path).Load():
        if ev.file_version:
            out["file_version"] = ev.file_version
        if ev.HasField("session_log") and ev.session_log.status == ev.session_log.START:
            out["session_starts"].append(ev.step)
        for v in ev.summary.value:
            if v.metadata.plugin_data.plugin_name != "scalars":
                raise SystemExit(f"{path}: step {ev.step}: tag {v.tag} is not a scalar")
            out["scalars"].append({"step": ev.step, "wall_time": ev.wall_time, "tag": v.tag,
                                   "value": float(tensor_util.make_ndarray(v.tensor).item())})
    return out


def dashboard(folder):
    acc = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    files = [read(p) for p in sys.argv[1:]]
    folders = sorted({os.path.dirname(os.path.abspath(p)) for p in sys.argv[1:]})
    json.dump({"files": files, "dashboard": {f: dashboard(f) for f in folders}}, sys.stdout)


if __name__ == "__main__":
    main()
