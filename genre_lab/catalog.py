"""The model names and the segment kinds each reads, without importing torch (for the CLI)."""

#: name -> the segment kinds (``"logmel"``, ``"mfcc"``) the model reads, in order
INPUT_KINDS = {
    "mlp": ("logmel",),
    "lenet5": ("logmel",),
    "cnn64": ("logmel",),
    "cheng": ("logmel",),
    "resnet": ("logmel",),
    "lstm": ("mfcc",),
    "cnn1d": ("mfcc",),
    "crnn": ("mfcc",),
    "fusion": ("logmel", "mfcc"),
}
MODEL_NAMES = tuple(INPUT_KINDS)
#: Linear probes on a pretrained network (``genre_lab.pretrained.transfer``): name -> backbone
PROBES = {"probe-msd": "MSD_musicnn", "probe-mtt": "MTT_musicnn"}


def input_kinds(name: str) -> tuple[str, ...]:
    """The feature kinds (``"logmel"``, ``"mfcc"``) the model ``name`` takes, in order."""
    if name not in INPUT_KINDS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}")
    return INPUT_KINDS[name]
