"""A PyTorch eager training script of the same job as `peer_jax.py` (no aejax imports).

    python aejax/benchmarking/peer_torch.py --job digits [--epochs 100] [--adam foreach|fused]

The same MLP autoencoder (flax's initialisation: truncated-normal LeCun kernels, zero biases; GELU with the tanh
approximation), per-example MSE averaged over the batch, `clip_grad_norm_` to the same global norm, Adam driven
by the same warm-up + cosine schedule (`LambdaLR`, stepped after each update), a fresh permutation each epoch
(last partial batch dropped), validation under `torch.inference_mode` each epoch and a copy of the weights
whenever it improves. `torch.set_num_threads` is left at its default. It prints one JSON line like the JAX peer.
"""

from __future__ import annotations

import itertools
import math
import time

import torch
from peer_data import (
    emit,
    job_from_args,
    learning_rate,
    load_job_data,
    peer_arguments,
    phase_record,
    steps_per_epoch,
)
from torch import nn

# Adam's fused and multi-tensor (foreach) CPU kernels. Fused is the default: timed in one process in 15
# interleaved rounds of 20 steps (2-core CPU, torch 2.13), the whole step took 1.69 against 2.17 ms for the
# digits model at batch 64 (median per-round ratio 0.79) and 10.5 against 11.6 ms for the MNIST model at 128 (0.90).
ADAM_IMPLEMENTATIONS = ("fused", "foreach")


def lecun_normal_(weight: torch.Tensor) -> None:
    """flax's lecun_normal: a normal of variance 1/fan_in truncated at two standard deviations (rescaled so
    that the truncated draw keeps that variance)."""
    std = math.sqrt(1.0 / weight.shape[1]) / 0.87962566103423978
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def mlp_autoencoder(n_features: int, hidden: tuple[int, ...], latent: int, activation: str) -> nn.Sequential:
    act = {"gelu": lambda: nn.GELU(approximate="tanh"), "relu": nn.ReLU}[activation]
    widths = [n_features, *hidden, latent, *reversed(hidden), n_features]
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        dense = nn.Linear(fan_in, fan_out)
        lecun_normal_(dense.weight)
        nn.init.zeros_(dense.bias)
        layers.append(dense)
        if i == len(widths) - 2:
            layers.append(nn.Sigmoid())
        elif i != len(hidden):  # layer len(hidden) gives the code: linear
            layers.append(act())
    return nn.Sequential(*layers)


def train(job, model, optimizer, schedule, x_train, x_val, seed: int):
    """The training loop; returns the best weights and a record of the run."""
    generator = torch.Generator().manual_seed(seed)
    n_steps = steps_per_epoch(job, x_train.shape[0])
    best_val, best_epoch, best_weights, loss = math.inf, -1, None, None
    for epoch in range(job.epochs):
        order = torch.randperm(x_train.shape[0], generator=generator)
        model.train()
        for index in range(n_steps):
            batch = x_train[order[index * job.batch_size : (index + 1) * job.batch_size]]
            loss = nn.functional.mse_loss(model(batch), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), job.grad_clip_norm)
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.inference_mode():
            val = nn.functional.mse_loss(model(x_val), x_val).item()
        if val < best_val:
            best_val, best_epoch = val, epoch
            best_weights = {name: w.detach().clone() for name, w in model.state_dict().items()}
    steps = job.epochs * n_steps
    return best_weights, {
        "steps": steps,
        "best_val": best_val,
        "best_epoch": best_epoch,
        "last_loss": loss.item(),
    }


def main() -> None:
    parser = peer_arguments(__doc__.splitlines()[0])
    parser.add_argument("--adam", choices=ADAM_IMPLEMENTATIONS, default=ADAM_IMPLEMENTATIONS[0])
    args = parser.parse_args()
    job = job_from_args(args)
    started = time.perf_counter()
    x_train, x_val, x_test = (torch.from_numpy(x) for x in load_job_data(job, args.mnist_path))
    loaded = time.perf_counter()
    torch.manual_seed(args.seed)
    model = mlp_autoencoder(x_train.shape[1], job.hidden, job.latent, job.activation)
    optimizer = torch.optim.Adam(model.parameters(), lr=job.learning_rate, **{args.adam: True})
    total_steps = job.epochs * steps_per_epoch(job, x_train.shape[0])
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate(job, step, total_steps) / job.learning_rate
    )
    ready = time.perf_counter()
    best_weights, record = train(job, model, optimizer, schedule, x_train, x_val, args.seed)
    trained = time.perf_counter()
    model.load_state_dict(best_weights)
    with torch.inference_mode():
        test_mse = nn.functional.mse_loss(model(x_test), x_test).item()
    record.update(
        test_mse=test_mse,
        **phase_record(started, loaded, ready, trained, x_train, x_val, x_test),
        adam=args.adam,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
    )
    emit(record)


if __name__ == "__main__":
    main()
