"""The streamed input pipeline (issue 27): row sources, their checks, the batch reader, data.pipeline, and
streamed training equal to in-memory training bit for bit (same rows, same order, same steps)."""

import threading

import jax
import numpy as np
import pytest
from stream_case import stream_config, write_shards

import aejax
from aejax.data import streamed
from aejax.data.row_sources import ArraySource, ImageFolder, NpyShards, StreamDataError
from aejax.data.streamed import AUTO_STREAM_BYTES, StreamedDataset, resolve_pipeline
from aejax.data.streaming import BatchStream
from aejax.training.loop import PipelineMismatchError


def _leaves(trained):
    return jax.tree.leaves(jax.device_get(trained.state.params))


def test_npy_shards_read_any_rows_as_the_arrays_hold_them(tmp_path):
    x = np.random.default_rng(1).random((50, 3, 2), np.float32)
    for i, part in enumerate(np.array_split(x, 4)):
        np.save(tmp_path / f"p{i}.npy", part)
    source = NpyShards(tmp_path)
    assert source.shape == (50, 3, 2) and source.nbytes == x.nbytes
    idx = np.array([49, 0, 13, 12, 13, 25, 26, 27, 3])  # repeats, runs, across shards, any order
    np.testing.assert_array_equal(source.read(idx), x[idx])
    np.testing.assert_array_equal(
        source.subset(np.array([5, 1])).reshaped((6,)).read([1, 0]), x[[1, 5]].reshape(2, 6)
    )
    np.save(tmp_path / "p9.npy", (x[:4] * 255).astype(np.uint8))  # uint8 shards are scaled to [0, 1]
    with pytest.raises(StreamDataError, match=r"shard p9.npy holds examples of shape \(3, 2\) dtype uint8"):
        NpyShards(tmp_path)


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.nan, r"example 7 contains non-finite values"), (3.0, r"example 7 has values in \[.*, 3\], outside")],
)
def test_a_bad_streamed_example_is_named(tmp_path, value, message):
    x = np.random.default_rng(0).random((10, 4), np.float32)
    x[7, 2] = value
    np.save(tmp_path / "a.npy", x)
    source = NpyShards(tmp_path)
    source.read([0, 1, 2])  # the bad row is only found when read
    with pytest.raises(StreamDataError, match=message):
        source.read([3, 7])


def test_image_folder_decodes_in_threads_like_the_pixels(tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (6, 5, 4), np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    source = ImageFolder(tmp_path, workers=3)
    assert source.example_shape == (5, 4, 1)
    np.testing.assert_array_equal(source.read([4, 1]), pixels[[4, 1], :, :, None] / np.float32(255))
    Image.fromarray(pixels[0, :4]).save(tmp_path / "9.png")
    with pytest.raises(StreamDataError, match=r"image 9.png \(example 6\) has shape \(4, 4, 1\)"):
        source = ImageFolder(tmp_path)
        source.read([6])


def test_batch_stream_reads_its_share_ahead_and_raises_errors_in_the_step():
    source = ArraySource(np.arange(40, dtype=np.float32).reshape(20, 2) / 40)
    order = np.random.default_rng(0).permutation(20)
    stream = BatchStream(source, 8, share=(4, 8), prefetch=2)
    stream.start(order, 1)
    np.testing.assert_array_equal(stream.next(1), source.read(order[12:16]))
    with pytest.raises(RuntimeError, match="the epoch ended"):
        stream.next(2)  # 20 rows hold 2 batches of 8
    assert stream.rows_read == 4
    stream.close()
    bad = ArraySource(np.full((16, 2), 2.0, np.float32))  # outside [0, 1]: raised where the step asks
    stream = BatchStream(bad, 8)
    stream.start(np.arange(16), 0)
    with pytest.raises(StreamDataError, match="outside the declared range"):
        stream.next(0)
    stream.close()
    assert not any(t.name == "aejax-stream" for t in threading.enumerate())


def test_pipeline_auto_streams_only_large_streamable_sources(tmp_path, monkeypatch):
    config = stream_config(write_shards(tmp_path / "shards"), "auto")
    assert isinstance(aejax.get_dataset(config, auto_streams=True), aejax.data.Dataset)  # 45 KB: in memory
    monkeypatch.setattr(streamed, "AUTO_STREAM_BYTES", 1000)
    assert isinstance(aejax.get_dataset(config, auto_streams=True), StreamedDataset)
    assert isinstance(aejax.get_dataset(config), aejax.data.Dataset)  # the tasks' reads stay in memory
    monkeypatch.undo()
    assert resolve_pipeline("auto", "npy_dir", AUTO_STREAM_BYTES + 1) == "stream"
    assert resolve_pipeline("auto", "npy_dir", AUTO_STREAM_BYTES) == "memory"
    assert resolve_pipeline("auto", "digits", 10 * AUTO_STREAM_BYTES) == "memory"
    with pytest.raises(ValueError, match="reads npy_dir, images or tfds:<name>, not 'digits'"):
        resolve_pipeline("stream", "digits")
    with pytest.raises(ValueError, match=r"unknown data\.pipeline 'disk'; valid: auto, memory, stream"):
        resolve_pipeline("disk", "npy_dir")


def test_streamed_fit_equals_in_memory_fit_bit_for_bit(tmp_path):
    shards = write_shards(tmp_path / "shards")
    memory = aejax.fit(stream_config(shards, "memory"))
    streamed = aejax.fit(stream_config(shards, "stream"))
    assert isinstance(aejax.get_dataset(stream_config(shards, "stream")), StreamedDataset)
    assert memory.results["data"].startswith("npy:shards:") and "(streamed)" in streamed.results["data"]
    for a, b in zip(_leaves(memory), _leaves(streamed), strict=True):
        np.testing.assert_array_equal(a, b)
    for split in ("val", "test"):
        for key in ("reconstruction", "mse", "code_active_fraction"):
            assert streamed.results[split][key] == pytest.approx(memory.results[split][key], rel=1e-6)
    # a Trained reads a source in chunks (evaluate, encode, score) as it reads the array
    source, rows = NpyShards(shards), np.concatenate([np.load(p) for p in sorted(shards.glob("*.npy"))])
    evaluated = memory.evaluate(source)
    assert evaluated == pytest.approx(memory.evaluate(rows.reshape(700, 16)), rel=1e-6)
    np.testing.assert_allclose(memory.encode(source), memory.encode(rows.reshape(700, 16)), rtol=1e-6)
    np.testing.assert_allclose(memory.score(source), memory.score(rows), rtol=1e-6)


def test_a_resumed_streamed_run_refuses_other_data(tmp_path):
    shards = write_shards(tmp_path / "shards")
    aejax.fit(stream_config(shards, "stream", epochs=1), workdir=tmp_path / "run")
    write_shards(shards, rows=720)  # other files under the same path
    with pytest.raises(PipelineMismatchError, match="streamed run with other source"):
        aejax.fit(stream_config(shards, "stream", epochs=2), workdir=tmp_path / "run")


def _tiny_tfds(data_dir):
    """A generated ArrayRecord tfds dataset 'aejax_tiny_rows' (120 train, 40 test uint8 4x4x1 rows), no network."""
    import tensorflow_datasets as tfds

    class AejaxTinyRows(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = {
                "image": tfds.features.Tensor(shape=(4, 4, 1), dtype=np.uint8),
                "label": tfds.features.ClassLabel(num_classes=3),
            }
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(0, 120), "test": self._generate_examples(1, 40)}

        def _generate_examples(self, seed, n):
            rng = np.random.default_rng(seed)
            for i in range(n):
                yield i, {"image": rng.integers(0, 256, (4, 4, 1), dtype=np.uint8), "label": i % 3}

    AejaxTinyRows(data_dir=str(data_dir), file_format="array_record").download_and_prepare()


def test_tfds_streams_array_records_in_batches_like_the_in_memory_split(tmp_path, monkeypatch):
    from tensorflow_datasets.core.data_sources import array_record

    from aejax.data import sources

    _tiny_tfds(tmp_path / "tfds")
    config = stream_config(tmp_path / "tfds", "memory")
    config.data.source = "tfds:aejax_tiny_rows"
    config.train.eval_batch_size = 16  # evaluation reads chunks smaller than a training batch
    memory = aejax.fit(config)

    reads = []
    getitems = array_record.ArrayRecordDataSource.__getitems__
    monkeypatch.setattr(
        array_record.ArrayRecordDataSource,
        "__getitems__",
        lambda self, keys: reads.append(len(keys)) or getitems(self, keys),
    )
    monkeypatch.setattr(
        sources, "load_tfds", lambda spec: pytest.fail("the streamed run read the split into a list")
    )
    config.data.pipeline = "stream"
    streamed = aejax.fit(config)
    assert "(streamed)" in streamed.results["data"]
    steps = streamed.results["total_steps"]
    assert steps == 2 * (108 // 32) and reads.count(32) >= steps  # one batched read per step (and evaluation)
    assert max(reads) == 32  # never a whole split at once
    for a, b in zip(_leaves(memory), _leaves(streamed), strict=True):
        np.testing.assert_array_equal(a, b)
    assert streamed.results["test"]["mse"] == pytest.approx(memory.results["test"]["mse"], rel=1e-6)


def test_a_task_refuses_a_streamed_pipeline_by_name():
    config = aejax.get_config("ae_digits")
    config.task.name = "reduce"
    config.data.pipeline = "stream"
    with pytest.raises(
        ValueError, match=r"'reduce' task reads its splits in memory, and data.pipeline is 'stream'"
    ):
        aejax.run_task(config)
