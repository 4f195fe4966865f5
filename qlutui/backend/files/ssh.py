"""SSH Configs: ssh_known_hosts, shosts.equiv and authorized_keys (model/sshfiles.py renders
them, `SSHFilesService` keeps their headers and options)."""

from __future__ import annotations

from qlutui.backend.files.base import FileClass, FileSpec, Rendered
from qlutui.backend.sshfiles import TITLES, SSHFilesService, split_generated
from qlutui.model.generated import Preview
from qlutui.model.sshfiles import FILES


class SSHFiles(FileClass):
    id = "ssh"
    title = "SSH Configs"

    def files(self) -> list[FileSpec]:
        config = self.cluster.config
        return [
            FileSpec(
                self.id, kind, TITLES[kind], config.ssh_destinations[kind], config.ssh_modes[kind]
            )
            for kind in FILES
        ]

    def render(self, files: list[FileSpec]) -> Rendered:
        service = SSHFilesService(self.cluster)
        options = service.load().options
        checked = service.check({spec.id: options[spec.id] for spec in files})
        return {kind: c.text if c.error is None else c.error for kind, c in checked.items()}

    def problems(self) -> list[str]:
        """One line per bad header line, bad host key and refused generated line."""
        from qlutui.backend.state_check import ssh_files_problems

        return ssh_files_problems(self.cluster.store)

    def split(self, spec: FileSpec, text: str) -> Preview:
        return split_generated(spec.id, text)
