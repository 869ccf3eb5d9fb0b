import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.models import MODELS, ModelMissing, PackagedModel, model_assemble, model_path


def make_part_packages(root: Path, prefix: str, chunks: list[bytes]) -> None:
    for index, chunk in enumerate(chunks, start=1):
        data = root / f"{prefix}{index}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{index:02d}.bin").write_bytes(chunk)


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, bytes]]:
    chunks = [b"GGUF" + bytes(range(200)), b"second part", b"third"]
    make_part_packages(tmp_path / "site", "fakemodelpart", chunks)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield tmp_path, b"".join(chunks)
    for name in list(sys.modules):
        if name.startswith("fakemodelpart"):
            del sys.modules[name]


def test_parts_are_joined_in_order_and_verified(parts: tuple[Path, bytes]) -> None:
    tmp_path, whole = parts
    model = PackagedModel(
        name="fake",
        filename="fake.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        part_prefix="fakemodelpart",
        parts=3,
    )
    path = model_assemble(model, tmp_path / "models" / "fake.gguf")
    assert path.read_bytes() == whole


def test_a_corrupt_assembly_is_refused_and_not_left_behind(parts: tuple[Path, bytes]) -> None:
    tmp_path, whole = parts
    model = PackagedModel(
        name="fake",
        filename="fake.gguf",
        size=len(whole),
        sha256="0" * 64,
        part_prefix="fakemodelpart",
        parts=3,
    )
    with pytest.raises(ModelMissing, match="sha256"):
        model_assemble(model, tmp_path / "models" / "fake.gguf")
    assert not list((tmp_path / "models").iterdir())


def test_a_missing_part_package_is_reported(tmp_path: Path) -> None:
    model = PackagedModel(
        name="x", filename="x.gguf", size=1, sha256="0", part_prefix="nosuchpart", parts=2
    )
    with pytest.raises(ModelMissing, match="not installed"):
        model_assemble(model, tmp_path / "x.gguf")


def test_the_test_model_ships_inside_its_package() -> None:
    path = model_path("smollm2-135m-instruct", "/nonexistent")
    assert path.read_bytes()[:4] == b"GGUF"


def test_the_default_model_is_registered_with_its_checksum() -> None:
    model = MODELS["qwen2.5-coder-1.5b-instruct"]
    assert model.parts == 22 and len(model.sha256) == 64
