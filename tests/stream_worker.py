"""One process of the two-process streamed run (tests/test_stream_multiprocess.py):

stream_worker.py PROCESS_ID PORT SHARDS OUT   aejax.fit of `stream_config(SHARDS)` streamed over both processes;
                                              each writes the rows it read (and of which global batch) to
                                              OUT.<id>.json, process 0 the parameters to OUT.npz
"""

import json
import sys

from aejax.training.parallel import initialize_distributed


def main(process_id: int, port: str, shards: str, out: str) -> None:
    initialize_distributed(f"127.0.0.1:{port}", 2, process_id, timeout_s=60)
    import jax
    import numpy as np
    from stream_case import stream_config  # next to this file

    import aejax
    from aejax.data import streaming
    from aejax.training import stream_stepper

    batches = []

    class CountingStream(streaming.BatchStream):
        """Records which rows of which global batch this process was handed."""

        def start(self, order, position):
            self._order = order
            super().start(order, position)

        def next(self, position):
            rows = super().next(position)
            start = position * self.batch_size
            batches.append([int(i) for i in self._order[start + self.lo : start + self.hi]])
            assert rows.shape[0] == self.hi - self.lo
            return rows

    stream_stepper.BatchStream = CountingStream
    trained = aejax.fit(stream_config(shards, "stream"))
    record = {"batches": batches, "process_count": jax.process_count()}
    with open(f"{out}.{process_id}.json", "w") as f:
        json.dump(record, f)
    if process_id == 0:
        np.savez(f"{out}.npz", *[np.asarray(a) for a in jax.tree.leaves(jax.device_get(trained.params))])
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
