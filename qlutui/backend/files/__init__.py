"""The generated files, as one registry of classes (DESIGN.md "Generated files").

`CLASSES` lists the classes in the order Write Files shows them; Write Files, `qlutui files`,
`qlutui check` and the menu's count iterate over it, so a new class is one module (a
`FileClass` subclass, see base.py) added here. `files_service(cluster)` is the service over
all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qlutui.backend.files.base import FileClass, FilesService
from qlutui.backend.files.hosts import HostsFile
from qlutui.backend.files.images import ImageFiles
from qlutui.backend.files.ssh import SSHFiles

if TYPE_CHECKING:
    from qlutui.backend.cluster import Cluster

CLASSES: list[type[FileClass]] = [SSHFiles, HostsFile, ImageFiles]


def files_service(cluster: Cluster, only: list[str] | None = None) -> FilesService:
    """The service over every registered class, or over the classes whose ids are `only`."""
    classes = [cls(cluster) for cls in CLASSES if only is None or cls.id in only]
    return FilesService(cluster, classes)
