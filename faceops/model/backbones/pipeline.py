"""The input pipeline of a Keras backbone, for the feature cache and batch prediction: tf.data reads, decodes and
loads faces in parallel threads and keeps the next batches ready while the network, compiled once, describes the
current one, and a batch's features are copied back while the next one runs. Crop files are decoded by TensorFlow
(off Python's lock: a GPU needs thousands a second); other inputs come from Python (`Inputs.load`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from faceops.core.errors import FaceopsError
from faceops.model.backbones.base import Inputs, keras_module

CPU_DECODE_THREADS = 2  # tf.data map calls on a CPU (see _pacing)


def tensorflow() -> Any:
    keras_module()  # TensorFlow's import, without its start-up chatter
    import tensorflow as tf

    return tf


def gpu_devices() -> list[Any]:
    return tensorflow().config.list_physical_devices("GPU")


def device_name() -> str:
    """What the network runs on, for logs and the benchmark: "GPU (NAME)" or "CPU"."""
    devices = gpu_devices()
    if not devices:
        return "CPU"
    details = tensorflow().config.experimental.get_device_details(devices[0])
    return f"GPU ({details.get('device_name', devices[0].name)})"


def compile_network(network: Callable[[Any], Any], size: int, xla: bool) -> Any:
    """`network` (uint8 faces in, float32 features out) as one TensorFlow graph, traced once for every batch size.
    A functools.partial, not a closure: TensorFlow counts the traces of one function's code across instances and
    warns of retracing when a process builds a few extractors."""
    tf = tensorflow()
    signature = [tf.TensorSpec((None, size, size, 3), tf.uint8)]
    return tf.function(network, input_signature=signature, jit_compile=xla, autograph=False)  # no Python control flow


def face_batches(inputs: Inputs, size: int, batch_size: int) -> Any:
    """A tf.data pipeline of (item numbers, faces, whether each face file had the expected size) batches."""
    tf = tensorflow()
    threads, prefetch, options = _pacing(tf)
    if inputs.files is not None:
        mirror = inputs.mirror

        def decode(item: Any, path: Any) -> tuple[Any, Any, Any]:
            image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
            fits = tf.reduce_all(tf.equal(tf.shape(image)[:2], size))
            image = tf.image.resize_with_crop_or_pad(image, size, size)  # a wrong size is named after the batch
            return item, tf.reverse(image, axis=[1]) if mirror else image, fits

        items = tf.data.Dataset.from_tensor_slices((np.arange(inputs.count, dtype="int64"), list(inputs.files)))
        faces = items.map(tf.autograph.experimental.do_not_convert(decode), num_parallel_calls=threads)
    else:

        def load(item: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            loaded = np.asarray(inputs.load(int(item)), dtype="uint8").reshape(-1, size, size, 3)
            return np.full(len(loaded), item, dtype="int64"), loaded

        def load_item(item: Any) -> tuple[Any, Any, Any]:
            numbers, loaded = tf.numpy_function(load, [item], (tf.int64, tf.uint8))
            numbers, loaded = tf.ensure_shape(numbers, (None,)), tf.ensure_shape(loaded, (None, size, size, 3))
            return numbers, loaded, tf.ones_like(numbers, dtype=tf.bool)

        load_items = tf.autograph.experimental.do_not_convert(load_item)
        faces = tf.data.Dataset.range(inputs.count).map(load_items, num_parallel_calls=threads).unbatch()
    return faces.batch(batch_size).prefetch(prefetch).with_options(options)


def _pacing(tf: Any) -> tuple[int, int, Any]:
    """Decode threads, batches kept ready and the pipeline's options. On a GPU, tf.data's autotuner sizes them.
    On a CPU the network itself needs every core: the autotuner, measuring a loaded machine, gave decode threads
    the cores the network needed (0.59 to 0.98 of the bare network's rate in bench/pipeline.py runs); two decode
    threads, two batches ahead and no autotuning keep it steady."""
    options = tf.data.Options()
    if gpu_devices():
        return tf.data.AUTOTUNE, tf.data.AUTOTUNE, options
    options.autotune.enabled = False
    return CPU_DECODE_THREADS, 2, options


def stream(network: Any, inputs: Inputs, size: int, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(item numbers, features) a batch at a time, in item order. A face the pipeline could not read, or of
    another size, is named by `inputs.load`, which reads it the way the rest of faceops does."""
    if inputs.count == 0:
        return
    tf = tensorflow()
    pending, seen = None, 0
    try:
        for items, faces, fits in face_batches(inputs, size, batch_size):
            if not fits.numpy().all():
                _name_the_failure(inputs, int(items[0]))
                raise FaceopsError(f"a face of items {int(items[0])} to {int(items[-1])} is not {size}x{size} px")
            running = (items, network(faces))  # dispatched: on a GPU it runs while the last batch comes back
            if pending is not None:
                yield pending[0].numpy(), pending[1].numpy()
            pending, seen = running, int(items[-1])  # its last item may go on
        if pending is not None:
            yield pending[0].numpy(), pending[1].numpy()
    except tf.errors.OpError:
        _name_the_failure(inputs, seen)
        raise


def _name_the_failure(inputs: Inputs, start: int) -> None:
    """Load the items from `start` on the plain way, which raises the error that names the file; if none does,
    the caller raises what the pipeline said."""
    for item in range(start, inputs.count):
        inputs.load(item)
