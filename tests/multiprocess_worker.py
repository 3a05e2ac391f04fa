"""One process of the two-process test (tests/test_multiprocess.py): trains 5 sharded steps over the devices of
both processes and, as process 0, writes the parameters and the last loss."""

import sys

from aejax.training.parallel import initialize_distributed


def main(process_id: int, port: str, out: str) -> None:
    initialize_distributed(f"127.0.0.1:{port}", 2, process_id, timeout_s=60)
    import jax
    import numpy as np
    from parallel_case import run_case  # next to this file

    assert jax.process_count() == 2 and len(jax.devices()) == 2
    params, losses = run_case("sharded")
    if process_id == 0:
        leaves = [np.asarray(a.addressable_data(0)) for a in jax.tree.leaves(params)]
        np.savez(out, *leaves, losses=np.asarray(losses))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
