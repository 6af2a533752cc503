"""Scoring: how well a person's identity survives (identity) and how well a style holds across
people (style). Pure functions over images; the stores, candidate scores and the leaderboard
build on them."""

from workbench.scoring.batch import ImageScores, describe_many, score_image, score_images
from workbench.scoring.identity import (
    IDENTITY_SCORER,
    IDENTITY_VERSION,
    descriptor_similarity,
    face_descriptor,
    identity_similarity,
)
from workbench.scoring.images import ImageInput
from workbench.scoring.style import (
    STYLE_DIMENSIONS,
    STYLE_SCORER,
    STYLE_VERSION,
    StyleComparison,
    StyleDescriptor,
    compare_styles,
    describe_style,
    style_consistency,
)

__all__ = [
    "IDENTITY_SCORER",
    "IDENTITY_VERSION",
    "STYLE_DIMENSIONS",
    "STYLE_SCORER",
    "STYLE_VERSION",
    "ImageInput",
    "ImageScores",
    "StyleComparison",
    "StyleDescriptor",
    "compare_styles",
    "describe_many",
    "describe_style",
    "descriptor_similarity",
    "face_descriptor",
    "identity_similarity",
    "score_image",
    "score_images",
    "style_consistency",
]
