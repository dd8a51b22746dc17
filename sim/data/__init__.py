"""Packaged data: the AALL1331 case-mix and the calibration targets."""
