"""The classify stage: direction, local and remote endpoint and owner of each flow."""

from __future__ import annotations

from trafficatlas.classify.classifier import ClassifiedBatch, Classifier
from trafficatlas.classify.nat import NatAddresses
from trafficatlas.classify.prefixes import PrefixTable
from trafficatlas.classify.settings import ClassifySettings, LocalKind, LocalNetwork

__all__ = [
    "ClassifiedBatch",
    "Classifier",
    "ClassifySettings",
    "LocalKind",
    "LocalNetwork",
    "NatAddresses",
    "PrefixTable",
]
