"""One process of the two-process tests (tests/test_multiprocess.py):

multiprocess_worker.py step PROCESS_ID PORT OUT   5 sharded steps over the devices of both processes; process 0
                                                  writes the parameters and the losses to OUT
multiprocess_worker.py train ARGS...              `aejax train ARGS...` (ARGS hold the distributed flags);
                                                  with AEJAX_TEST_SKEW_VALIDATION=1, process 1 sees its own
                                                  validation values fall by 1e10 per evaluation, so only
                                                  tracking process 0's values stops both alike; with
                                                  AEJAX_TEST_SKEW_DATA=1, process 1's training split differs;
                                                  with AEJAX_TEST_SIGNAL_AT_STEP=k, process 1 alone gets a
                                                  SIGTERM once past step k
"""

import os
import sys

from aejax.training.parallel import initialize_distributed


def step_case(process_id: int, port: str, out: str) -> None:
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
    if sys.argv[1] == "step":
        step_case(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        from aejax.cli import main

        args = sys.argv[2:]
        if os.environ.get("AEJAX_TEST_SKEW_VALIDATION") and args[args.index("--process-id") + 1] == "1":
            from aejax.training import loop

            evaluate, calls = loop.evaluate, []

            def skewed(*a, **k):
                calls.append(1)
                return {key: value - 1e10 * len(calls) for key, value in evaluate(*a, **k).items()}

            loop.evaluate = skewed
        if os.environ.get("AEJAX_TEST_SKEW_DATA") and args[args.index("--process-id") + 1] == "1":
            import dataclasses

            from aejax import fitting

            get_dataset = fitting.get_dataset

            def skewed_data(*a, **k):
                data = get_dataset(*a, **k)
                return dataclasses.replace(data, x_train=data.x_train[::-1].copy())

            fitting.get_dataset = skewed_data
        signal_at = os.environ.get("AEJAX_TEST_SIGNAL_AT_STEP")
        if signal_at and args[args.index("--process-id") + 1] == "1":
            from preemption_driver import install  # next to this file

            install(int(signal_at), "TERM")
        code = main(args)
        import jax

        jax.distributed.shutdown()
        raise SystemExit(code)
