"""Test doubles that speak real wire protocols on loopback."""
