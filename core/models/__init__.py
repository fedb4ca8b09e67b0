"""Anomaly model engine: the contract, the registry, weights, backbones, memory bank, methods."""

from core.models.base import AnomalyModel, AnomalyResult, ModelCard
from core.models.registry import create_model, list_models, model_class
from core.runtime.progress import CancelToken

__all__ = ["AnomalyModel", "AnomalyResult", "CancelToken", "ModelCard", "create_model", "list_models", "model_class"]
