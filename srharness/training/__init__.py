"""RCAN training conformance (issue 6): the Ascend RCAN training guide's data preparation,
trainer, multi-process runs and Set5 evaluation. See PROTOCOLS.md section B."""
from .data import TileDataset, TrainingDataError, training_dataset
from .trainer import (CheckpointError, TrainingCheckpointError, TrainConfig, TrainingError, TrainResult, load_checkpoint,
                      run_training)

__all__ = ["CheckpointError", "TrainingCheckpointError", "TileDataset", "TrainConfig", "TrainResult", "TrainingDataError",
           "TrainingError", "load_checkpoint", "run_training", "training_dataset"]
