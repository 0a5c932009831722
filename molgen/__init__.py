"""molgen: equivariant diffusion for 3D molecules and protein backbones."""

__version__ = "0.1.0"
