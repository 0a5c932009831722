"""molgen: equivariant diffusion for 3D molecules and protein backbones."""

from molgen.datasets.backbones import load_backbone_npz, read_backbone_folder
from molgen.datasets.qm9 import load_qm9, load_qm9_subset
from molgen.generators.backbones import BackboneGenerator
from molgen.generators.molecules import MoleculeGenerator
from molgen.io.pdb import read_backbone, write_pdb
from molgen.io.sdf import SDFWriter, read_first_molecule, read_sdf, write_sdf
from molgen.runtime import bundled_data, molgen_version
from molgen.structures.backbone import Backbone
from molgen.structures.molecule import Molecule
from molgen.training.backbone_trainer import BackboneTrainer
from molgen.training.trainer import MoleculeTrainer

__version__ = molgen_version()

__all__ = [
    "Backbone",
    "BackboneGenerator",
    "BackboneTrainer",
    "bundled_data",
    "load_backbone_npz",
    "read_backbone_folder",
    "Molecule",
    "MoleculeGenerator",
    "MoleculeTrainer",
    "SDFWriter",
    "load_qm9",
    "load_qm9_subset",
    "read_backbone",
    "read_first_molecule",
    "read_sdf",
    "write_pdb",
    "write_sdf",
]
