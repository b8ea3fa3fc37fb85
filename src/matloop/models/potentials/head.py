"""``--model chgnet-head``: a new head on the pre-trained CHGNet, fitted to the user's target, with uncertainty.

CHGNet's own heads read its pooled crystal feature (and the atoms' features) to predict energy,
forces, stress and magnetic moments. For another property the network's body is kept frozen and a new
head is trained on what the body computes, per structure: the 64-number crystal feature plus CHGNet's
energy, magnetic-moment and equation-of-state outputs (:class:`~.features.UniversalPotentialFeatures`,
computed once and cached by structure content, so refitting the head never reruns the network). The
head is a small deep ensemble (:class:`~matloop.models.neural.NeuralEnsembleRegressor`): five one-layer
MLPs with Gaussian mean-and-variance outputs, each with early stopping on its own 15 % validation
split (the best validation epoch's weights are kept); ``matloop fit`` recalibrates its std on
five-fold cross-validated residuals like every model that does not calibrate itself
(:class:`~matloop.models.calibration.RecalibratedRegressor`). Fine-tuning the body too (all of
CHGNet's weights) is what ``matloop potential fit`` does for energies and forces
(:mod:`.finetune`); for a scalar property on ~1,000 structures a frozen body and a new head is the
variant that does not overfit.

The comparison with the forest on the same features is in ``benchmarks/results/chgnet_head.md``.
"""

from __future__ import annotations

#: the head's architecture and training (NeuralEnsembleRegressor keywords)
HEAD = {"n_members": 5, "hidden_layer_sizes": (64,), "learning_rate": 3e-3, "weight_decay": 1e-3,
        "batch_size": 64, "max_epochs": 400, "patience": 40, "validation_fraction": 0.15, "n_threads": 1}


def chgnet_head(random_state: int | None = 0, **params):
    """The unfitted head: :class:`~matloop.models.neural.NeuralEnsembleRegressor` with :data:`HEAD`."""
    from matloop.models.neural import NeuralEnsembleRegressor

    return NeuralEnsembleRegressor(random_state=random_state, **{**HEAD, **params})


def check_head_input(dataset, featurizer: str | None) -> str:
    """The featurizer the head reads (``chgnet``), or :class:`matloop.InputError` saying what is wrong."""
    from matloop.errors import InputError
    from matloop.models.potentials.features import chgnet_available

    if dataset.kind != "structure":
        raise InputError(f"--model chgnet-head learns from crystal structures, but the input is {dataset.kind} "
                         "values: give a structure column with --input COL --kind structure")
    if featurizer not in (None, "chgnet"):
        raise InputError(f"--model chgnet-head reads CHGNet's features; leave out --featurizer {featurizer} "
                         "(or use another --model with it)")
    if not chgnet_available():
        raise InputError('--model chgnet-head needs CHGNet and PyTorch, which are not installed: '
                         'pip install "matloop[chgnet]"')
    return "chgnet"
