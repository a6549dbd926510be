"""Test harness shared by every test folder (see README.md in this folder)."""
