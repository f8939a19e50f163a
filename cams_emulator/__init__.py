"""A local, stateful emulator of the CAMS OpenAPI endpoint (moto's server mode, for CAMS).

A dev tool: the unmodified SDK talks to it over real HTTP on loopback. See docs/emulator.md.
"""

from cams_emulator.emulator import CamsEmulator
from cams_emulator.models import NOT_FOUND_CODE, Credential, Fault, JournalEntry

__all__ = ["NOT_FOUND_CODE", "CamsEmulator", "Credential", "Fault", "JournalEntry"]
