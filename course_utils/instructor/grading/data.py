"""The only things that cross between a student's kernel and the grader's checks: data, never objects.

A value is encoded as JSON: ``None``, booleans, integers, floats, strings, lists (and tuples, which come back as
lists) and dictionaries with string keys, nested; a PyTorch tensor or a NumPy array travels as the bytes of a
``safetensors`` file (``{"__tensor__": BASE64}``, read back as a tensor). Nothing is unpickled and no class of the
student's is rebuilt, so a value that lies about itself (a ``__eq__`` that says yes, a string subclass, ``mock.ANY``)
arrives as plain data or not at all. An encoding is refused past ``MAX_BYTES``.

The worker sends this module's source to the kernel, where `encode_names` runs (the student's code can make it say
anything: that is no more than choosing the values its functions return); the checks decode what it said with
`decode`. Only the standard library is imported at the top; PyTorch, NumPy and safetensors where a tensor is met.
"""

import base64
import json
import math

MAX_BYTES = 64 * 2**20
TENSOR = "__tensor__"


class NotData(TypeError):
    """A value that is not data: the grader cannot check it."""


def to_data(value, path="value"):
    """``value`` as JSON-ready data (tensors and arrays as safetensors bytes); raises `NotData` for anything else."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if type(value) in (list, tuple):
        return [to_data(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if type(value) is dict:
        if not all(type(key) is str for key in value):
            raise NotData(f"{path} has keys that are not strings")
        return {key: to_data(item, f"{path}[{key!r}]") for key, item in value.items()}
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if kind in ("torch.Tensor", "torch.nn.parameter.Parameter", "numpy.ndarray"):
        return {TENSOR: tensor_bytes(value)}
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # a NumPy scalar: numpy.float64(0.5) is 0.5
        return to_data(value.item(), path)
    raise NotData(f"{path} is a {type(value).__qualname__}, not data (numbers, text, lists, dicts, tensors)")


def tensor_bytes(value):
    """A tensor or an array as a base64 safetensors file."""
    import torch
    from safetensors.torch import save

    tensor = torch.as_tensor(value).detach().cpu().contiguous()
    return base64.b64encode(save({"tensor": tensor})).decode("ascii")


def encode(values):
    """A dictionary of named values, as one JSON string."""
    text = json.dumps({name: to_data(value, name) for name, value in values.items()})
    if len(text) > MAX_BYTES:
        raise NotData(f"the values are {len(text) / 2**20:.0f} MB encoded, more than {MAX_BYTES // 2**20} MB")
    return text


def encode_names(names, namespace):
    """What the kernel answers when the grader asks for ``names``: each one's encoding, or why it has none."""
    values, missing = {}, {}
    for name in names:
        if name not in namespace:
            missing[name] = f"{name} is not defined"
            continue
        try:
            values[name] = to_data(namespace[name], name)
        except Exception as error:  # noqa: BLE001 - whatever the value did, it is not data
            missing[name] = str(error)
    return json.dumps({"values": values, "missing": missing})


def from_data(data):
    """Data as values: tensors rebuilt from their bytes, the rest as it is."""
    if isinstance(data, list):
        return [from_data(item) for item in data]
    if isinstance(data, dict):
        if set(data) == {TENSOR}:
            from safetensors.torch import load

            return load(base64.b64decode(data[TENSOR]))["tensor"]
        if set(data) == {"__float__"}:
            return float(data["__float__"])
        return {key: from_data(item) for key, item in data.items()}
    return data


def decode(text):
    """The values of an encoding, by name."""
    if len(text) > MAX_BYTES:
        raise NotData(f"the values are {len(text) / 2**20:.0f} MB encoded, more than {MAX_BYTES // 2**20} MB")
    return {name: from_data(data) for name, data in json.loads(text).items()}
