"""A user's embedder: a function by path or module name, and a HEAR module, as extractors."""

import hashlib
import sys
import textwrap

import numpy as np
import pytest

from timbre_jax.errors import DataError, UsageError
from timbre_jax_extract.models.embedder import Embedder, as_vector, hear_embedder, load_function

# A numpy embedder written for these tests: energies of 3 bands of 256-sample frames, (frames, 3).
EMB = '''
import numpy as np

NOT_A_FUNCTION = 3


def bands(audio, sample_rate):
    n = 256
    frames = audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    edges = (0, 500, 1500, sample_rate)
    return np.stack([power[:, (freqs >= a) & (freqs < b)].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])], 1)


def bands8k(audio, sample_rate):
    return bands(audio, sample_rate)


bands8k.sample_rate = 8000


def seen(audio, sample_rate):
    return np.array([audio.dtype == np.float32, audio.ndim, len(audio), sample_rate], dtype=float)


def as_tensor(audio, sample_rate):
    import torch

    return torch.from_numpy(bands(audio, sample_rate)).requires_grad_(True) * 1.0


class Shapes:
    @staticmethod
    def cube(audio, sample_rate):
        return np.zeros((2, 3, 4))
'''

HEAR = '''
import torch

CALLS = []


class Model(torch.nn.Module):
    sample_rate = 16000

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0))


def load_model(model_file_path=""):
    CALLS.append(model_file_path)
    return Model()


def get_scene_embeddings(audio, model):
    n = audio.shape[0]
    return torch.stack([model.scale * audio.mean(dim=1), audio.abs().max(dim=1).values,
                        torch.full((n,), float(audio.shape[1])), torch.full((n,), float(audio.dtype == torch.float32)),
                        torch.full((n,), float(torch.is_grad_enabled()))], dim=1)
'''


def reference_bands(x, sample_rate):
    """The (frames, 3) band energies of EMB, computed here independently of it."""
    x = x.astype(np.float32).astype(np.float64)
    out = []
    for k in range(len(x) // 256):
        frame = x[k * 256:(k + 1) * 256]
        power = np.abs(np.fft.rfft(frame)) ** 2
        hz = np.arange(len(power)) * sample_rate / 256
        out.append([power[(hz >= a) & (hz < b)].sum() for a, b in ((0, 500), (500, 1500), (1500, sample_rate))])
    return np.array(out)


@pytest.fixture
def sound():
    t = np.arange(4000) / 16000
    return 0.5 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 2500 * t) + 0.01 * t


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """A folder holding emb.py; the modules imported during the test are forgotten after it."""
    (tmp_path / "tjx_emb.py").write_text(EMB)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(("tjx_", "_timbre_jax_embedder_")):
            del sys.modules[name]


def test_load_function_by_path_and_by_module_name(modules, monkeypatch, sound):
    path = modules / "tjx_emb.py"
    by_path = load_function(f"{path}:bands")
    assert by_path.__name__ == "bands" and str(modules) not in sys.path  # the folder was not left on sys.path
    assert "tjx_emb" not in sys.modules
    monkeypatch.syspath_prepend(str(modules))
    by_name = load_function("tjx_emb:bands")
    assert by_name.__module__ == "tjx_emb" and by_name is not by_path
    np.testing.assert_array_equal(by_path(sound.astype(np.float32), 16000), by_name(sound.astype(np.float32), 16000))
    assert load_function("tjx_emb:Shapes.cube")(sound, 1).shape == (2, 3, 4)  # a dotted attribute
    # the same file twice gives two independent modules
    assert load_function(f"{path}:bands").__module__ != by_path.__module__


def test_frame_average_equals_the_numpy_mean(modules, sound):
    spec = f"{modules / 'tjx_emb.py'}:bands"
    ex = Embedder(load_function(spec), "bands", spec=spec)
    v = ex.embed(sound, 16000)
    expected = reference_bands(sound, 16000).mean(axis=0)
    assert v.shape == (3,) and v.dtype == np.float64
    np.testing.assert_allclose(v, expected, rtol=1e-6)
    assert v[0] > 10 * v[1] and v[2] > 10 * v[1]  # 300 Hz and 2500 Hz; 500-1500 Hz holds only leakage
    assert (ex.name, ex.sample_rate, ex.rescale, ex.cacheable) == ("bands", None, False, False)
    assert ex.parameters() == {"embedder": spec, "sample_rate": None}
    assert (ex.version, ex.checkpoint, ex.layout) == ("1", None, "user embedding, frame-averaged")
    assert "numpy" in ex.versions()
    with pytest.raises(UsageError, match="takes each file at its own rate"):
        ex.features(sound)
    # the rate given is the rate passed on; the audio is float32 (samples,)
    seen = Embedder(load_function(f"{modules / 'tjx_emb.py'}:seen"), "seen")
    np.testing.assert_array_equal(seen.embed(sound, 22050), [1, 1, len(sound), 22050])
    assert seen.parameters()["embedder"].endswith(":seen")  # default spec: module:qualname


def test_the_sample_rate_attribute_is_the_extractors_rate(modules, sound):
    spec = f"{modules / 'tjx_emb.py'}:bands8k"
    ex = Embedder(load_function(spec), "b8", spec=spec)
    assert ex.sample_rate == 8000 and ex.parameters() == {"embedder": spec, "sample_rate": 8000}
    np.testing.assert_allclose(ex.features(sound), reference_bands(sound, 8000).mean(axis=0), rtol=1e-6)

    def f(audio, sample_rate):
        return audio[:2]

    for bad in (-1, 0, 8000.5, "8000", True, float("nan")):
        f.sample_rate = bad
        with pytest.raises(UsageError, match="sample_rate must be a positive integer"):
            Embedder(f, "x")
    f.sample_rate = np.int64(22050)
    assert Embedder(f, "x").sample_rate == 22050 and type(Embedder(f, "x").sample_rate) is int
    f.sample_rate = 16000.0
    assert Embedder(f, "x").sample_rate == 16000


def test_a_torch_tensor_return_works(modules, sound):
    pytest.importorskip("torch")
    ex = Embedder(load_function(f"{modules / 'tjx_emb.py'}:as_tensor"), "t")
    v = ex.embed(sound, 16000)
    assert v.dtype == np.float64
    np.testing.assert_allclose(v, reference_bands(sound, 16000).mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("out,message", [
    (np.zeros((2, 3, 4)), r"returned shape \(2, 3, 4\): expected \(dims,\) or \(frames, dims\)"),
    (np.float64(1.0), r"returned shape \(\): expected \(dims,\) or \(frames, dims\)"),
    (None, r"returned None: return \(dims,\) or \(frames, dims\)"),
    (np.zeros((0, 3)), r"returned shape \(0, 3\), which is empty"),
    (np.zeros(0), r"returned shape \(0,\), which is empty"),
    ([[1.0, 2.0], [3.0]], "returned a list that is not a numeric array"),
    ({"a": 1}, "returned a dict that is not a numeric array"),
    (np.ones(3) * 1j, "returned complex values"),
])
def test_wrong_returns_are_data_errors(out, message):
    ex = Embedder(lambda audio, sample_rate: out, "bad", spec="tjx:bad")
    with pytest.raises(DataError, match=message):
        ex.embed(np.ones(10), 16000)


def test_vectors_and_frame_matrices_are_accepted():
    np.testing.assert_array_equal(as_vector([1, 2, 3]), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(as_vector(np.array([[1, 2], [3, 6]], dtype=np.float32)), [2.0, 4.0])
    np.testing.assert_array_equal(as_vector([[5.0, 7.0]]), [5.0, 7.0])  # one frame


def test_bad_specs_are_one_line_usage_errors(modules, monkeypatch):
    path = modules / "tjx_emb.py"
    (modules / "tjx_broken.py").write_text("import numpy_nonexistent_xyz\n")
    (modules / "tjx_syntax.py").write_text("def f(:\n")
    (modules / "tjx_raises.py").write_text("raise RuntimeError('no GPU here\\nsecond line')\n")
    cases = [
        ("tjx_emb.bands", r"give package\.module:function or path/to/file\.py:function"),
        (f"{path}:", "give package.module:function"),
        (f"{modules / 'absent.py'}:f", "absent.py' does not exist"),
        (f"{modules / 'tjx_broken.py'}:f", "ModuleNotFoundError: No module named 'numpy_nonexistent_xyz'"),
        (f"{modules / 'tjx_syntax.py'}:f", "SyntaxError"),
        (f"{modules / 'tjx_raises.py'}:f", r"RuntimeError: no GPU here\)$"),
        (f"{path}:missing", r"has no 'missing' \(its public callables: Shapes, as_tensor, bands, bands8k, seen\)"),
        (f"{path}:NOT_A_FUNCTION", "'NOT_A_FUNCTION' is a int, not a function"),
        ("tjx_not_a_module_anywhere:f", r"cannot import module 'tjx_not_a_module_anywhere' \(ModuleNotFoundError"),
    ]
    for spec, message in cases:
        with pytest.raises(UsageError, match=message) as info:
            load_function(spec)
        assert "\n" not in str(info.value), spec
    assert not any(name.startswith("_timbre_jax_embedder_tjx_broken") for name in sys.modules)
    monkeypatch.syspath_prepend(str(modules))
    with pytest.raises(UsageError, match="cannot import module 'tjx_broken' .ModuleNotFoundError"):
        load_function("tjx_broken:f")
    with pytest.raises(UsageError, match="invalid representation name 'a/b'"):
        Embedder(load_function("tjx_emb:bands"), "a/b")
    with pytest.raises(UsageError, match="is not a function"):
        Embedder(3, "x")


def write_hear(folder, name, text=HEAR):
    (folder / f"{name}.py").write_text(textwrap.dedent(text))


def test_a_hear_module(modules, monkeypatch):
    torch = pytest.importorskip("torch")
    write_hear(modules, "tjx_hear")
    monkeypatch.syspath_prepend(str(modules))
    ex = hear_embedder("tjx_hear", "hearish")
    module = sys.modules["tjx_hear"]
    assert module.CALLS == [""]
    assert (ex.name, ex.sample_rate, ex.rescale, ex.cacheable) == ("hearish", 16000, False, False)
    assert ex.parameters() == {"embedder": "hear:tjx_hear", "sample_rate": 16000}
    assert "torch" in ex.versions()
    x = np.linspace(-0.25, 0.75, 3000)
    v = ex.embed(x, 16000)
    # 2 * mean, max |x|, the number of samples, the dtype float32, no gradient recorded
    np.testing.assert_allclose(v, [2 * x.mean(), 0.75, 3000, 1.0, 0.0], rtol=1e-6)
    assert v.dtype == np.float64
    np.testing.assert_allclose(ex.features(x[:100]), [2 * x[:100].mean(), 0.25, 100, 1.0, 0.0], rtol=1e-6)
    assert module.CALLS == [""]  # load_model ran once
    with pytest.raises(DataError, match="takes 16000 Hz audio, got 8000 Hz"):
        ex.embed(x, 8000)
    assert torch.is_grad_enabled()
    # by path too
    assert hear_embedder(str(modules / "tjx_hear.py"), "byfile").parameters()["sample_rate"] == 16000


@pytest.mark.parametrize("change,error,message", [
    (("dim=1)\n", "dim=1)[0]\n"), DataError,
     r"get_scene_embeddings returned shape \(5,\) for one sound: expected \(1, dims\)"),
    (("dim=1)\n", "dim=1).reshape(1, 1, 5)\n"), DataError, r"returned shape \(1, 1, 5\)"),
    (("def get_scene_embeddings", "def other"), UsageError, "has no function get_scene_embeddings: a HEAR module"),
    (("def load_model", "def other_load"), UsageError, "has no function load_model"),
    (("    sample_rate = 16000\n", ""), UsageError, "has no sample_rate attribute"),
    (("sample_rate = 16000", "sample_rate = 16000.5"), UsageError, "sample_rate must be a positive integer"),
    (("    CALLS.append", "    raise OSError('no weights file')\n    CALLS.append"), UsageError,
     r"load_model\(\) failed \(OSError: no weights file\)"),
])
def test_hear_errors(modules, monkeypatch, change, error, message):
    pytest.importorskip("torch")
    text = HEAR
    for old, new in zip(change[::2], change[1::2]):
        assert old in text
        text = text.replace(old, new)
    name = f"tjx_hear_{hashlib.sha256(message.encode()).hexdigest()[:8]}"
    write_hear(modules, name, text)
    monkeypatch.syspath_prepend(str(modules))
    with pytest.raises(error, match=message):
        hear_embedder(name, "h").embed(np.ones(100), 16000)


def test_hear_import_failures(modules, monkeypatch):
    with pytest.raises(UsageError, match="HEAR module 'tjx_no_such_hear': cannot import module 'tjx_no_such_hear'"):
        hear_embedder("tjx_no_such_hear", "h")
    with pytest.raises(UsageError, match=r"HEAR module '.*absent\.py': file .* does not exist"):
        hear_embedder(str(modules / "absent.py"), "h")
