"""The local loop: run the function the way FC runs it, against the CAMS emulator.

Dev tool only; never part of the deployed package.
"""
