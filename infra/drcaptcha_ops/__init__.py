"""Ops tooling: the `drcaptcha` CLI, the embedded emulator, the template-driven bootstrap, the local gateway."""
