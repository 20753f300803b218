"""scripts/regate_fusion.py re-scores fusion folds with other gates: its NumPy gate must be the model's."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("keras")

from conftest import REPO  # noqa: E402


@pytest.mark.parametrize("power", [0.5, 2.0])
def test_numpy_gate_is_the_served_models_gate(power):
    from pose_action.training.models import ConfidenceGate

    spec = importlib.util.spec_from_file_location("regate_fusion", REPO / "scripts" / "regate_fusion.py")
    regate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regate)
    rng = np.random.default_rng(0)
    pose_only, fused = (rng.dirichlet(np.ones(5), size=8).astype(np.float32) for _ in range(2))
    served = np.asarray(ConfidenceGate(power)(pose_only, fused))
    np.testing.assert_allclose(regate.gate(pose_only, fused, power), served, atol=1e-6)
    sure = np.eye(5, dtype=np.float32)[:1]  # a certain pose head answers alone
    np.testing.assert_allclose(regate.gate(sure, fused[:1], power), sure, atol=1e-6)
