"""Arm-selection policies that turn posterior draws into decisions."""
