"""Recommended settings per divergence on the 2D benchmarks (ring, grid) and on mixture1d:
the values that the flags left out take when --divergence names one, on top of the
dataset's defaults.

They come from a recorded sweep (``benchmarks/sweep_divergences.py``; every run is in
``benchmarks/results/divergence-sweep.md``) and are confirmed over 3 seeds on both datasets
by ``benchmarks/divergences.py`` (``benchmarks/results/divergences.md``). A divergence not
listed trains with the dataset's defaults, which are those of the gan divergence. mixture1d
keeps its own settings (the linear generator and the saturating loss, whose fixed point is
the exact VDM optimum) for every divergence but total_variation (MIXTURE1D_RECIPES,
measured by ``benchmarks/total_variation_fit.py``), and mnist its DCGAN's.

Lookup: the divergence's spec (``alpha(1.5)``), then its row (``alpha>1`` for every α > 1),
then its name (``alpha``).
"""

from __future__ import annotations

from .. import divergences

RECIPES = {  # ring and grid
    # the critic's T = ½ tanh V saturates at ±½ on every sample with α1 = 1e-3 (both
    # players' gradients exactly 0 from step ~1,500): a slower critic keeps it inside; 2e-4
    # held the ring but left grid seed 2 at 66% high quality, 5e-4 holds both (sweep pass 4)
    "total_variation": dict(lr_d=5e-4),
    # T = 1 − e^−V → −∞ on generated samples with α1 = 1e-3 (the critic blows up)
    "neyman": dict(lr_d=2e-4),
    # T = −e^−V → −∞ on generated samples; the saturating loss −E f*(g(V)) = −E[V − 1] is
    # linear in V, so the generator's gradient stays bounded where the critic runs off
    "reverse_kl": dict(generator_loss="saturating"),
}
MIXTURE1D_RECIPES = {
    # without the drift penalty V runs into tanh's flat tails within 50 steps and the fit
    # ends near μ = 1.6 against μ* = 0.98 (benchmarks/results/total-variation-fit.md)
    "total_variation": dict(drift=3e-3),
}
BY_DATASET = {"ring": RECIPES, "grid": RECIPES, "mixture1d": MIXTURE1D_RECIPES}


def recipe_key(spec, recipes=RECIPES):
    """The key of ``recipes`` that applies to the divergence ``spec``, or None."""
    try:
        div = divergences.get(spec)
    except (ValueError, TypeError):
        return None  # validation names the bad divergence
    row = "alpha>1" if isinstance(div, divergences.AlphaAboveOne) else None
    return next((key for key in (div.spec, row, div.name) if key in recipes), None)


def recipe(dataset, spec):
    """The recommended settings for ``spec`` on ``dataset`` ({} where none apply)."""
    recipes = BY_DATASET.get(dataset, {})
    key = recipe_key(spec, recipes)
    return dict(recipes[key]) if key else {}


def help_text():
    """The --help lines that list the recipes."""
    lines = []
    for heading, recipes in (
            ("recommended settings per divergence on ring and grid (for flags left out; the\n"
             "sweep and the results are in benchmarks/results/):", RECIPES),
            ("and on mixture1d:", MIXTURE1D_RECIPES)):
        lines.append(heading)
        lines += [f"  {key}: " + ", ".join(f"{k}={v}" for k, v in settings.items())
                  for key, settings in recipes.items()]
    lines.append("  every other divergence: the dataset's defaults")
    return "\n".join(lines)
