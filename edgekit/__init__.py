"""edgekit: export, quantize, build and profile image classifiers for edge devices."""

__version__ = "0.1.0"
