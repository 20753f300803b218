"""What the training tests share: a small features folder."""

from __future__ import annotations

import pytest

from features_fixture import make_features


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """3 groups × 2 clips per class (and one clip without a person), 24 frames, 16-pixel thumbnails."""
    return make_features(tmp_path_factory.mktemp("features"), groups=3, clips=2, frames=24, thumb_size=16)
