"""The command's flags and the configuration they resolve to: the parser, the recommended
settings per dataset (the values a flag left out takes), the checks every value must pass,
and, for --resume, the configuration saved in the run's checkpoint. Nothing here writes a
file or builds a model; every refusal is a UsageError (exit status 2)."""

from __future__ import annotations

import argparse
import math
import textwrap
from pathlib import Path

from .. import checkpoint, data, digits, divergences, models, stabilizers
from . import recipes

PROG = "python -m minigan.train"
DESCRIPTION = ("The command line: ``python -m minigan.train`` trains an f-GAN by Variational "
               "Divergence\nMinimization and writes a run folder.")

# Recommended settings per dataset: the values a flag left out takes.
DATASET_DEFAULTS = {
    "ring": dict(steps=12000, d_steps=1, lr_d=1e-3, lr_g=1e-3, batch_real=256, batch_fake=256,
                 pack=2, noise_dim=2, hidden=128, layers=2, lr_decay=0.7,
                 generator="mlp", generator_loss="non-saturating"),
    "grid": dict(steps=25000, d_steps=1, lr_d=1e-3, lr_g=1e-3, batch_real=256, batch_fake=256,
                 pack=2, noise_dim=2, hidden=128, layers=2, lr_decay=0.7,
                 generator="mlp", generator_loss="non-saturating"),
    # the f-GAN paper's Gaussian fit: Q_θ = N(μ, σ²) and the saturating loss, whose fixed
    # point is the true VDM saddle point (the non-saturating one moves it)
    "mixture1d": dict(steps=2000, d_steps=1, lr_d=3e-3, lr_g=3e-3, batch_real=512,
                      batch_fake=512, pack=1, noise_dim=1, hidden=64, layers=2, lr_decay=0.5,
                      generator="linear", generator_loss="saturating"),
    # the DCGAN (models.dcgan_generator/dcgan_critic) on the 4,000 built-in training images,
    # tuned for about 8 minutes on a 2-core CPU (7.7-8.1 measured, more on slow hosts):
    # half-width networks for 4x the steps, the critic reading pairs (PacGAN: KL to uniform
    # 0.05-0.07 against 0.09), InfoGAN's hidden layers and a 10-way code in z (confidence
    # 0.84 -> 0.90-0.91, Frechet distance 116 -> 32-35), and Adam at 4e-4 decaying to 0
    # over the last quarter (confidence 0.91-0.92, Frechet 20-29): benchmarks/results/mnist.md
    "mnist": dict(steps=8000, d_steps=1, lr_d=4e-4, lr_g=4e-4, batch_real=64, batch_fake=64,
                  pack=2, noise_dim=64, hidden=128, layers=2, lr_decay=0.25,
                  generator="dcgan", generator_loss="non-saturating", g_width=32, d_width=32,
                  fc_width=128, noise_code=10),
}
COMMON_DEFAULTS = dict(backend="numpy", dataset="ring", divergence="gan", optimizer="adam",
                       beta1=0.5, beta2=0.999, momentum=0.0, seed=0, dtype="float32",
                       log_every=10, checkpoint_every=500, snapshots=5, simultaneous=False,
                       resume=False, overwrite=False, no_plots=False, progress=None,
                       data_path=None, out=None, blas_threads=1, stabilizer="none",
                       drift=0.0)
# what a resumed run may change: how long it runs and how it reports, never the model
RUN_LENGTH_FLAGS = {"steps", "log_every", "checkpoint_every", "no_plots", "progress",
                    "backend", "out", "resume", "overwrite", "data_path", "blas_threads"}
CHOICES = {"backend": ("numpy", "cupy"), "dtype": ("float32", "float64"),
           "optimizer": ("adam", "sgd"), "generator_loss": ("non-saturating", "saturating"),
           "generator": ("mlp", "linear", "dcgan"), "stabilizer": stabilizers.NAMES}
POSITIVE = ("d_steps", "batch_real", "batch_fake", "pack", "noise_dim", "hidden", "layers",
            "log_every", "checkpoint_every", "snapshots", "blas_threads")


class UsageError(Exception):
    """Bad flags, an unavailable backend or an unusable --out/checkpoint: exit 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are UsageErrors: one line, no usage block, and no
    SystemExit from deep inside."""

    def error(self, message):
        raise UsageError(message)


def flag(key: str) -> str:
    """The flag of a configuration key: ``lr_d`` -> ``--lr-d``."""
    return "--" + key.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """Every flag defaults to None so that the ones given explicitly can be told apart; the
    values used in their absence are the divergence's recipe (recipes.py), DATASET_DEFAULTS
    and COMMON_DEFAULTS."""
    p = Parser(prog=PROG, description=DESCRIPTION,
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog="defaults per dataset (for flags left out):\n" + "\n".join(
                   textwrap.fill(", ".join(f"{k}={v}" for k, v in d.items()), 88,
                                 initial_indent=f"  {name}: ", subsequent_indent="    ")
                   for name, d in DATASET_DEFAULTS.items()) + "\n" + recipes.help_text())
    p.add_argument("--backend", help="numpy (CPU, default) or cupy (GPU)")
    p.add_argument("--dtype", help="float32 (default) or float64")
    p.add_argument("--dataset", help="ring (default), grid, mixture1d or mnist")
    p.add_argument("--data-path", help="the full MNIST for --dataset mnist: mnist.npz, an IDX "
                                       "image file (gzipped or not) or their folder (default "
                                       "$MINIGAN_MNIST, else the 4,000 built-in images)")
    p.add_argument("--divergence", help="f-divergence to minimise (default gan)")
    p.add_argument("--generator-loss", help="non-saturating (-E g_f(V(G(z)))) or saturating "
                                            "(-E f*(g_f(V(G(z)))))")
    p.add_argument("--generator", help="mlp, linear (μ + σz, mixture1d only) or dcgan (mnist)")
    p.add_argument("--optimizer", help="adam (default, β1 0.5) or sgd")
    p.add_argument("--beta1", type=float, help="Adam's β1 (default 0.5)")
    p.add_argument("--beta2", type=float, help="Adam's β2 (default 0.999)")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0)")
    p.add_argument("--steps", type=int, help="generator updates in total")
    p.add_argument("--d-steps", type=int, metavar="K",
                   help="critic (discriminator) updates per generator update")
    p.add_argument("--lr-d", type=float, metavar="ALPHA1", help="critic learning rate α1")
    p.add_argument("--lr-g", type=float, metavar="ALPHA2", help="generator learning rate α2")
    p.add_argument("--lr-decay", type=float, metavar="FRACTION",
                   help="decay both learning rates linearly to 0 over this last fraction of "
                        "--steps (0: constant)")
    p.add_argument("--batch-real", type=int, metavar="B1", help="real samples per critic step")
    p.add_argument("--batch-fake", type=int, metavar="B2", help="generated samples per step")
    p.add_argument("--pack", type=int, metavar="M",
                   help="PacGAN: M samples concatenated into one critic input")
    p.add_argument("--simultaneous", action="store_true", default=None,
                   help="update both players from one gradient evaluation (f-GAN "
                        "Algorithm 1) instead of alternating")
    p.add_argument("--stabilizer", help="none or spectral_norm: the critic's layers "
                                        "divided by their spectral norm (Miyato et al. 2018)")
    p.add_argument("--drift", type=float, metavar="EPS",
                   help="the drift penalty: the critic ascends J - EPS*E_P[V^2] (Karras et al. "
                        "2018), which keeps its logit V where g_f has a slope (default 0)")
    p.add_argument("--noise-dim", type=int, help="size of the generator's noise z")
    p.add_argument("--hidden", type=int, help="width of the MLP layers")
    p.add_argument("--layers", type=int, help="hidden layers of each MLP")
    p.add_argument("--g-width", type=int, metavar="W",
                   help="DCGAN generator (mnist): channels W and 2W of its transposed convs")
    p.add_argument("--d-width", type=int, metavar="W",
                   help="DCGAN critic (mnist): channels W and 2W of its convolutions")
    p.add_argument("--fc-width", type=int, metavar="U",
                   help="DCGAN (mnist): units of the fully connected hidden layer of each "
                        "network, after the noise and before the critic's output, as "
                        "InfoGAN's MNIST networks (0: none)")
    p.add_argument("--noise-code", type=int, metavar="K",
                   help="DCGAN (mnist): append to z the one-hot index of the largest of its "
                        "first K entries, a K-way categorical code (0: none)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--out", help="run folder (default runs/DATASET-DIVERGENCE-seedS)")
    p.add_argument("--resume", action="store_true", default=None,
                   help="continue the run in --out from its checkpoint.npz")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="start afresh in an --out that already holds a run")
    p.add_argument("--log-every", type=int, help="steps between metrics.jsonl lines (10)")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (500)")
    p.add_argument("--snapshots", type=int,
                   help="points of training whose samples the figure shows (5)")
    p.add_argument("--blas-threads", type=int,
                   help="OpenBLAS threads for the numpy backend (default 1: the matrices "
                        "are small)")
    p.add_argument("--no-plots", action="store_true", default=None, help="write no figures")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show the progress bar (default: when stderr is a terminal)")
    return p


def configure(argv):
    """The run's configuration, its folder and, for --resume, the checkpoint's state (else
    None), from the command line ``argv``: parsed, completed with the defaults, validated;
    nothing written."""
    args = vars(build_parser().parse_args(argv))
    explicit = {k: v for k, v in args.items() if v is not None}
    config = resolve(explicit)
    out = Path(config["out"]) if config["out"] else None
    state = None
    if config["resume"]:
        config, state = resumed(explicit, out)
    validate(config)
    return config, run_folder(config, out), state


def resolve(explicit: dict) -> dict:
    """The flags given, completed with the divergence's recommended settings on this dataset
    (recipes.py), the dataset's and the common defaults."""
    dataset = explicit.get("dataset") or COMMON_DEFAULTS["dataset"]
    if dataset not in data.NAMES:
        raise UsageError(f"unknown dataset {dataset!r}; choose one of {', '.join(data.NAMES)}")
    divergence = explicit.get("divergence") or COMMON_DEFAULTS["divergence"]
    recipe = recipes.recipe(dataset, divergence)
    config = {**COMMON_DEFAULTS, **DATASET_DEFAULTS[dataset], **recipe, **explicit}
    config["dataset"] = dataset
    # what the divergence's recipe set (recipes.py), for config.json
    config["recipe"] = {k: v for k, v in recipe.items() if k not in explicit}
    return config


def resumed(explicit: dict, out):
    """The configuration of the run in ``out`` that --resume continues, with only the
    RUN_LENGTH_FLAGS given anew, and the state of its checkpoint."""
    if out is None:
        raise UsageError("--resume needs --out DIR, the folder of the run to continue")
    path = out / "checkpoint.npz"
    if not path.is_file():
        raise UsageError(f"--resume: there is no checkpoint at {path}")
    try:
        state = checkpoint.load(path)
    except checkpoint.CheckpointError as err:
        raise UsageError(str(err)) from None
    saved = state.get("config") if isinstance(state, dict) else None
    if not isinstance(saved, dict):
        raise UsageError(f"{path} holds no run configuration")
    for key, value in explicit.items():
        if key not in RUN_LENGTH_FLAGS and saved.get(key) != value:
            raise UsageError(
                f"{flag(key)} {value} differs from the checkpoint's {saved.get(key)}; a "
                "resumed run keeps its settings (only --steps, --log-every, "
                "--checkpoint-every, --backend and the reporting flags may change)")
    config = {**saved, **{k: v for k, v in explicit.items() if k in RUN_LENGTH_FLAGS}}
    config.setdefault("stabilizer", "none")  # checkpoints from before the flags
    config.setdefault("drift", 0.0)
    config["resume"] = True
    return config, state


def validate(config: dict) -> None:
    """Refuse every value the run could not use, naming its flag."""
    for key, allowed in CHOICES.items():
        if config[key] not in allowed:
            raise UsageError(f"{flag(key)} must be one of {', '.join(allowed)}, "
                             f"not {config[key]!r}")
    try:
        divergences.get(config["divergence"])
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    check_numbers(config)
    check_combinations(config)
    check_images(config)


def check_numbers(config: dict) -> None:
    """Counts positive, seed and steps not negative, rates finite and in range."""
    for key in POSITIVE:
        if config[key] < 1:
            raise UsageError(f"{flag(key)} must be a positive integer, not {config[key]}")
    for key in ("seed", "steps"):
        if config[key] < 0:
            raise UsageError(f"{flag(key)} must be 0 or more, not {config[key]}")
    for key in ("lr_d", "lr_g"):
        if not config[key] > 0 or not math.isfinite(config[key]):
            raise UsageError(f"{flag(key)} must be a positive number, not {config[key]}")
    if not 0 <= config["drift"] < math.inf:
        raise UsageError(f"--drift must be a finite number >= 0, not {config['drift']}")
    if not 0 <= config["lr_decay"] <= 1:
        raise UsageError(f"--lr-decay must lie in [0, 1], not {config['lr_decay']}")
    if not (0 <= config["beta1"] < 1 and 0 <= config["beta2"] < 1 and config["momentum"] >= 0):
        raise UsageError("--beta1 and --beta2 must lie in [0, 1) and --momentum be >= 0")


def check_combinations(config: dict) -> None:
    """Flags that must fit together: batches and --pack, the generator and the dataset."""
    for key in ("batch_real", "batch_fake"):
        if config[key] % config["pack"]:
            raise UsageError(f"{flag(key)} {config[key]} is not a multiple of "
                             f"--pack {config['pack']}")
    if config["simultaneous"] and config["d_steps"] != 1:
        raise UsageError("--simultaneous updates both players once per step; it takes no "
                         "--d-steps other than 1")
    kind, dataset = config["generator"], config["dataset"]
    if kind == "linear" and dataset != "mixture1d":
        raise UsageError("--generator linear (μ + σz) is only for --dataset mixture1d")
    if (kind == "dcgan") != (dataset == "mnist"):
        raise UsageError(f"--generator {kind} does not fit --dataset {dataset} "
                         "(dcgan is for mnist, mlp/linear for the others)")
    if kind == "linear" and config["noise_dim"] != 1:
        raise UsageError("--generator linear needs --noise-dim 1")


IMAGE_FLAGS = ("g_width", "d_width", "fc_width", "noise_code")  # the DCGAN's (mnist only)
# what a run saved before a flag existed had: width 64, no hidden layer, no code
IMAGE_DEFAULTS = {"g_width": models.DCGAN_WIDTH, "d_width": models.DCGAN_WIDTH,
                  "fc_width": 0, "noise_code": 0}


def image_sizes(config: dict) -> dict:
    """The DCGAN's sizes in ``config``: g_width, d_width, fc_width, noise_code, those a run
    saved before their flags existed left out taking ``IMAGE_DEFAULTS``."""
    return {key: config.get(key, default) for key, default in IMAGE_DEFAULTS.items()}


def check_images(config: dict) -> None:
    """The DCGAN's sizes (mnist only; widths positive, the hidden layer's 0 or more, the
    code's at most the noise's), and for mnist the built-in data and digit classifier
    files, whose sha256 must match, before anything is written."""
    if config["dataset"] != "mnist":
        given = [flag(k) for k in IMAGE_FLAGS if k in config]
        if given:
            names = ", ".join(given[:-1]) + " and " * (len(given) > 1) + given[-1]
            raise UsageError(f"{names} set{'s' * (len(given) == 1)} the DCGAN of --dataset mnist; "
                             f"--dataset {config['dataset']} uses --hidden and --layers")
        return
    code = config.get("noise_code", 0)
    if not 0 <= code <= config["noise_dim"]:
        raise UsageError(f"--noise-code must be 0 to --noise-dim ({config['noise_dim']}), "
                         f"not {code}: the code is read off z's first entries")
    for key in ("g_width", "d_width", "fc_width"):
        least = 0 if key == "fc_width" else 1
        if config.get(key, IMAGE_DEFAULTS[key]) < least:
            kind = "a positive integer" if least else "0 or a positive integer"
            raise UsageError(f"{flag(key)} must be {kind}, not {config[key]}")
    try:
        digits.check_files()
    except (OSError, ValueError) as err:
        raise UsageError(str(err)) from None


def run_folder(config: dict, out) -> Path:
    """``out``, checked: not a file, and holding no run unless --resume or --overwrite says
    what to do with it; by default a fresh runs/DATASET-DIVERGENCE-seedS[-n]."""
    if out is None:
        out = default_out(config)
    elif not config["resume"] and (out / "checkpoint.npz").exists() and not config["overwrite"]:
        raise UsageError(f"{out} already holds a run; pass --resume to continue it or "
                         "--overwrite to start afresh")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    return out


def default_out(config: dict) -> Path:
    """runs/DATASET-DIVERGENCE-seedS, or the first -2, -3, ... that holds no run yet."""
    base = Path("runs") / f"{config['dataset']}-{config['divergence']}-seed{config['seed']}"
    candidate, n = base, 1
    while (candidate / "checkpoint.npz").exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate
