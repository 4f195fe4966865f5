"""SSH Configs: ssh_known_hosts, shosts.equiv and authorized_keys (model/sshfiles.py renders
them, `SSHFilesService` keeps their headers and options)."""

from __future__ import annotations

from qlutui.backend.files.base import FileClass, FileSpec, Rendered
from qlutui.backend.sshfiles import TITLES, SSHFilesService, problems_text, split_generated
from qlutui.errors import InvalidInput
from qlutui.model.generated import Preview
from qlutui.model.sshfiles import FILES, validate_header


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
        rendered = service.render({spec.id: options[spec.id] for spec in files})
        for spec in files:
            if problems := validate_header(spec.id, options[spec.id].header):
                rendered[spec.id] = InvalidInput(f"header {problems_text(problems)}")
        return rendered

    def split(self, spec: FileSpec, text: str) -> Preview:
        return split_generated(spec.id, text)
