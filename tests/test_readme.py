"""The README's two commands stay in sync with CI and with the experiment files; the extension examples of
docs/concepts.md (a regularizer, an encoder) do what they say, checked against NumPy."""

from conftest import REPO


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2, "the README opens with exactly two setup commands"
    assert "aejax train --config experiments/ae_digits.py" in commands[0]
    assert commands[1] in (REPO / ".ci" / "run").read_text()
    assert (REPO / "experiments" / "ae_digits.py").is_file()  # re-exports the packaged config:
    assert (REPO / "aejax" / "configs" / "ae_digits.py").is_file()


CONCEPTS = REPO / "docs" / "concepts.md"


def _block_after(readme: str, first_line: str) -> str:
    """The fenced Python block holding a line that starts with `first_line`."""
    for block in readme.split("```python\n")[1:]:
        code = block.split("```", 1)[0]
        if any(line.startswith(first_line) for line in code.splitlines()):
            return code
    raise AssertionError(f"no code block of docs/concepts.md has a line starting with {first_line!r}")


def _settings(readme: str, first_line: str, prefix: str) -> str:
    """The lines of that block that set `prefix...` keys: what the example changes in a config."""
    lines = _block_after(readme, first_line).splitlines()
    return "\n".join(line for line in lines if line.startswith(prefix))


def test_docs_regularizer_example_runs_from_a_config(tmp_path, monkeypatch, tiny_config, blobs):
    import jax.numpy as jnp
    import numpy as np

    import aejax
    from aejax.models import AutoencoderOutput
    from aejax.objectives import Forward

    readme = CONCEPTS.read_text()
    source = _block_after(readme, "# my_penalties.py")
    body = [line for line in source.splitlines() if line.strip() and not line.startswith("#")]
    assert len(body) <= 10, "the docs promise a regularizer in under 10 lines"
    (tmp_path / "my_penalties.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "my_penalties", raising=False)

    config = tiny_config
    exec(_settings(readme, "config.loss.regularizers = {", "config.loss."), {"config": config})
    workdir = tmp_path / "run"
    aejax.fit(config, data=aejax.data.from_arrays(*blobs), workdir=workdir)
    records = [
        r for r in aejax.training.MetricsLog(workdir / "metrics.jsonl").read() if r["split"] == "train"
    ]
    assert records and all(np.isfinite(r["reg/decorrelate"]) and r["reg/decorrelate"] >= 0 for r in records)

    # Its value against NumPy: squared off-diagonal Pearson correlations of the code units.
    import my_penalties

    code = np.random.default_rng(0).normal(size=(64, 5)) @ np.random.default_rng(1).normal(size=(5, 5))
    output = AutoencoderOutput(
        reconstruction=jnp.zeros((64, 1)), code=jnp.asarray(code), logits=jnp.zeros((64, 1))
    )
    forward = Forward(x=None, x_input=None, output=output, params={}, rng=None, encode=None)
    corr = np.corrcoef(code, rowvar=False)
    expected = np.sum(np.square(corr - np.diag(np.diag(corr))))
    np.testing.assert_allclose(float(my_penalties.decorrelation(forward, eps=0.0)), expected, rtol=1e-4)


def test_docs_encoder_example_runs_from_a_config(tmp_path, monkeypatch, tiny_config, blobs):
    import aejax

    readme = CONCEPTS.read_text()
    (tmp_path / "my_parts.py").write_text(_block_after(readme, "# my_parts.py"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "my_parts", raising=False)
    config = tiny_config
    exec(
        _settings(readme, 'config.model.encoder = "my_parts:GatedEncoder"', "config.model."),
        {"config": config},
    )
    for family in ("autoencoder", "vae"):  # the family sets the encoder's output width
        config.model.family = family
        config.loss.reconstruction = "bernoulli" if family == "vae" else "mse"
        trained = aejax.fit(config, data=aejax.data.from_arrays(*blobs))
        kernel = trained.params["encoder"]["Dense_2"]["kernel"]
        assert kernel.shape == (32, (2 if family == "vae" else 1) * config.model.latent_dim)
        assert trained.encode(blobs[2]).shape == (blobs[2].shape[0], config.model.latent_dim)
