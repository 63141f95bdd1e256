"""Layer activations of PyTorch models, streamed to disk, and ID profiles across depth.

``activations(model, data, layers=...)`` captures layers into an :class:`ActivationStore`;
``profile(model, data, ...)`` measures the intrinsic dimension of each layer (Ansuini et al.,
NeurIPS 2019); ``load_model(spec)`` builds models from specifications. Importing this
package imports torch but not transformers, torchvision or timm.
"""

from .activation_store import ActivationStore
from .capture import SEQUENCE_POLICIES, activations
from .layers import PRESETS, LayerInfo
from .models import describe_model, load_model, load_weights
from .options import CaptureOptions, EstimateOptions
from .profiling import Profile, ProfileRow, profile, profile_store, reinitialized
from .store_writer import StoreWriter

__all__ = [
    "activations", "ActivationStore", "SEQUENCE_POLICIES", "PRESETS", "LayerInfo",
    "load_model", "load_weights", "describe_model",
    "profile", "profile_store", "Profile", "ProfileRow", "reinitialized",
    "CaptureOptions", "EstimateOptions", "StoreWriter",
]
